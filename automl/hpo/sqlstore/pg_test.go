package sqlstore

import (
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
)

// A throwaway PostgreSQL cluster for the tests: initdb and pg_ctl from the
// Debian packages, run as the 'postgres' user when the tests run as root
// (PostgreSQL refuses root), listening only on a Unix socket in a
// temporary directory, started once per test binary and stopped by
// TestMain.
var pg struct {
	once sync.Once
	dir  string
	bin  string
	dsn  string // of the "postgres" database
	skip string // why there is no server
	err  error
	mu   sync.Mutex
	n    int
}

func pgBinDir() string {
	if d := os.Getenv("TESSERA_PG_BIN"); d != "" {
		return d
	}
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		return filepath.Dir(p)
	}
	ms, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_ctl")
	if len(ms) > 0 {
		return filepath.Dir(ms[len(ms)-1])
	}
	return ""
}

func pgCmd(cred *syscall.Credential, name string, args ...string) *exec.Cmd {
	c := exec.Command(filepath.Join(pg.bin, name), args...)
	if cred != nil {
		c.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	}
	c.Env = append(os.Environ(), "LC_ALL=C")
	return c
}

func startPostgres() {
	pg.bin = pgBinDir()
	if pg.bin == "" {
		pg.skip = "PostgreSQL binaries (initdb, pg_ctl) not found: install Debian's postgresql package"
		return
	}
	dir, err := os.MkdirTemp("", "hpo-pg-")
	if err != nil {
		pg.err = err
		return
	}
	pg.dir = dir
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			u, err = user.Lookup("nobody")
		}
		if err != nil {
			pg.err = fmt.Errorf("running as root and no 'postgres' or 'nobody' user to run PostgreSQL: %w", err)
			return
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(dir, uid, gid); err != nil {
			pg.err = err
			return
		}
	}
	data := filepath.Join(dir, "data")
	if out, err := pgCmd(cred, "initdb", "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync").CombinedOutput(); err != nil {
		pg.err = fmt.Errorf("initdb: %v\n%s", err, out)
		return
	}
	opts := fmt.Sprintf("-k %s -c listen_addresses='' -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200", dir)
	if out, err := pgCmd(cred, "pg_ctl", "-D", data, "-o", opts, "-l", filepath.Join(dir, "log"), "-w", "start").CombinedOutput(); err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "log"))
		pg.err = fmt.Errorf("pg_ctl start: %v\n%s\n%s", err, out, log)
		return
	}
	pg.dsn = fmt.Sprintf("host=%s user=postgres dbname=postgres sslmode=disable", dir)
}

func stopPostgres() {
	if pg.dir == "" {
		return
	}
	if pg.dsn != "" {
		var cred *syscall.Credential
		if os.Geteuid() == 0 {
			if fi, err := os.Stat(pg.dir); err == nil {
				st := fi.Sys().(*syscall.Stat_t)
				cred = &syscall.Credential{Uid: st.Uid, Gid: st.Gid}
			}
		}
		_ = pgCmd(cred, "pg_ctl", "-D", filepath.Join(pg.dir, "data"), "-m", "immediate", "-w", "stop").Run()
	}
	_ = os.RemoveAll(pg.dir)
}

// postgresDSN returns the connection string of a new, empty database on
// the test cluster, starting the cluster on first use. It skips the test
// (with the reason) only where PostgreSQL is not installed; a server that
// is installed but fails to start fails the test.
func postgresDSN(t testing.TB) string {
	t.Helper()
	pg.once.Do(startPostgres)
	if pg.skip != "" {
		t.Skip("SKIP (PostgreSQL): " + pg.skip)
	}
	if pg.err != nil {
		t.Fatalf("starting PostgreSQL: %v", pg.err)
	}
	pg.mu.Lock()
	pg.n++
	name := fmt.Sprintf("hpo_test_%d", pg.n)
	pg.mu.Unlock()
	db, err := sql.Open("pgx", pg.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatalf("CREATE DATABASE: %v", err)
	}
	return fmt.Sprintf("host=%s user=postgres dbname=%s sslmode=disable", pg.dir, name)
}
