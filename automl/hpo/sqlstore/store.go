package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
	"modernc.org/sqlite"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver

	"github.com/tessera-ml/tessera/automl/hpo"
)

type dialect int

const (
	dSQLite dialect = iota
	dPostgres
)

// Store is an hpo.Storage in a SQL database.
type Store struct {
	db *sql.DB
	d  dialect
	// RetryFor bounds how long an operation is retried on a busy or
	// serialization error (2 minutes by default).
	RetryFor time.Duration
}

var _ hpo.Storage = (*Store)(nil)

// OpenSQLite opens (creating if needed) a study database in the SQLite
// file path. Many processes may open the same file.
func OpenSQLite(path string) (*Store, error) {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("sqlstore: %w", err)
	}
	db.SetMaxOpenConns(8)
	return open(db, dSQLite)
}

// OpenPostgres connects to PostgreSQL with a pgx connection string (URL
// or key=value form, e.g. "host=/tmp/pg dbname=studies") and creates the
// tables if needed.
func OpenPostgres(dsn string) (*Store, error) {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: %w", err)
	}
	db.SetMaxOpenConns(8)
	return open(db, dPostgres)
}

func open(db *sql.DB, d dialect) (*Store, error) {
	s := &Store{db: db, d: d, RetryFor: 2 * time.Minute}
	if err := s.migrate(context.Background()); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// DB returns the underlying database handle.
func (s *Store) DB() *sql.DB { return s.db }

// Close implements hpo.Storage.
func (s *Store) Close() error { return s.db.Close() }

func (s *Store) migrate(ctx context.Context) error {
	serial := "INTEGER PRIMARY KEY"
	if s.d == dPostgres {
		serial = "BIGSERIAL PRIMARY KEY"
	}
	stmts := []string{
		`CREATE TABLE IF NOT EXISTS hpo_studies (id ` + serial + `, name TEXT NOT NULL UNIQUE,
			direction INTEGER NOT NULL, next_number INTEGER NOT NULL DEFAULT 0, retries INTEGER NOT NULL DEFAULT 0)`,
		`CREATE TABLE IF NOT EXISTS hpo_trials (id ` + serial + `, study_id BIGINT NOT NULL REFERENCES hpo_studies(id),
			number INTEGER NOT NULL, state INTEGER NOT NULL, value DOUBLE PRECISION, err TEXT NOT NULL DEFAULT '',
			worker TEXT NOT NULL DEFAULT '', fixed TEXT NOT NULL DEFAULT '', retry_of INTEGER NOT NULL DEFAULT -1,
			started BIGINT NOT NULL DEFAULT 0, finished BIGINT NOT NULL DEFAULT 0, heartbeat BIGINT NOT NULL DEFAULT 0,
			UNIQUE (study_id, number))`,
		`CREATE INDEX IF NOT EXISTS hpo_trials_state ON hpo_trials (study_id, state)`,
		`CREATE TABLE IF NOT EXISTS hpo_params (trial_id BIGINT NOT NULL REFERENCES hpo_trials(id), name TEXT NOT NULL,
			value DOUBLE PRECISION NOT NULL, dist TEXT NOT NULL, PRIMARY KEY (trial_id, name))`,
		`CREATE TABLE IF NOT EXISTS hpo_values (trial_id BIGINT NOT NULL REFERENCES hpo_trials(id), step INTEGER NOT NULL,
			value DOUBLE PRECISION, PRIMARY KEY (trial_id, step))`,
		`CREATE TABLE IF NOT EXISTS hpo_attrs (trial_id BIGINT NOT NULL REFERENCES hpo_trials(id), key TEXT NOT NULL,
			value TEXT NOT NULL, PRIMARY KEY (trial_id, key))`,
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		if s.d == dPostgres {
			// Concurrent CREATE TABLE IF NOT EXISTS can collide in
			// PostgreSQL's catalogue: one opener at a time.
			if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(7243001)`); err != nil {
				return err
			}
		}
		for _, q := range stmts {
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return fmt.Errorf("sqlstore: creating the schema: %w", err)
			}
		}
		return nil
	})
}

// rebind turns ? placeholders into PostgreSQL's $n.
func (s *Store) rebind(q string) string {
	if s.d != dPostgres {
		return q
	}
	var b strings.Builder
	n := 0
	for _, c := range q {
		if c == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(c)
	}
	return b.String()
}

// retryable reports whether err is a transient lock or serialization
// conflict worth retrying.
func retryable(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		c := se.Code() & 0xff
		return c == 5 || c == 6 // SQLITE_BUSY, SQLITE_LOCKED (and their extended codes)
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "40001" || pe.Code == "40P01" || pe.Code == "55P03"
	}
	return false
}

// retry runs f until it succeeds, fails for good, or RetryFor passes,
// sleeping with exponential backoff and jitter between attempts.
func (s *Store) retry(ctx context.Context, f func() error) error {
	deadline := time.Now().Add(s.RetryFor)
	wait := time.Millisecond
	for {
		err := f()
		if err == nil || !retryable(err) || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait/2 + rand.N(wait)):
		}
		wait = min(2*wait, 200*time.Millisecond)
	}
}

// tx runs f in a write transaction (IMMEDIATE on SQLite), retried whole.
func (s *Store) tx(ctx context.Context, f func(tx *sql.Tx) error) error {
	return s.retry(ctx, func() error {
		tx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		if err := f(tx); err != nil {
			_ = tx.Rollback()
			return err
		}
		return tx.Commit()
	})
}

// exec runs one statement with retries and returns the rows it affected.
func (s *Store) exec(ctx context.Context, q string, args ...any) (int64, error) {
	var n int64
	err := s.retry(ctx, func() error {
		r, err := s.db.ExecContext(ctx, s.rebind(q), args...)
		if err != nil {
			return err
		}
		n, err = r.RowsAffected()
		return err
	})
	return n, err
}

// CreateStudy implements hpo.Storage.
func (s *Store) CreateStudy(ctx context.Context, name string, dir hpo.Direction) (int64, error) {
	var id int64
	var d int
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, s.rebind(`INSERT INTO hpo_studies (name, direction) VALUES (?, ?) ON CONFLICT (name) DO NOTHING`), name, int(dir)); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, s.rebind(`SELECT id, direction FROM hpo_studies WHERE name = ?`), name).Scan(&id, &d)
	})
	if err != nil {
		return 0, fmt.Errorf("sqlstore: %w", err)
	}
	if hpo.Direction(d) != dir {
		return 0, fmt.Errorf("%w: %q is %v", hpo.ErrStudyMismatch, name, hpo.Direction(d))
	}
	return id, nil
}

const (
	stRunning  = int(hpo.Running)
	stFailed   = int(hpo.Failed)
	stWaiting  = int(hpo.Waiting)
	nanosPerNs = 1
)

func unixNano(t time.Time) int64 { return t.UnixNano() * nanosPerNs }

func fromNano(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

// ClaimTrial implements hpo.Storage.
func (s *Store) ClaimTrial(ctx context.Context, studyID int64, req hpo.ClaimRequest) (hpo.FrozenTrial, error) {
	var out hpo.FrozenTrial
	budgetUsed := false
	err := s.tx(ctx, func(tx *sql.Tx) error {
		budgetUsed = false
		lock := `SELECT next_number, retries FROM hpo_studies WHERE id = ?`
		if s.d == dPostgres {
			lock += ` FOR UPDATE`
		}
		var next, retries int
		if err := tx.QueryRowContext(ctx, s.rebind(lock), studyID).Scan(&next, &retries); err != nil {
			return fmt.Errorf("study %d: %w", studyID, err)
		}
		now := unixNano(req.Now)
		if req.StaleAfter > 0 {
			type stale struct {
				id        int64
				number    int
				worker    string
				heartbeat int64
			}
			var ss []stale
			rows, err := tx.QueryContext(ctx, s.rebind(`SELECT id, number, worker, heartbeat FROM hpo_trials
				WHERE study_id = ? AND state = ? AND heartbeat < ? ORDER BY number`), studyID, stRunning, now-int64(req.StaleAfter))
			if err != nil {
				return err
			}
			for rows.Next() {
				var x stale
				if err := rows.Scan(&x.id, &x.number, &x.worker, &x.heartbeat); err != nil {
					rows.Close()
					return err
				}
				ss = append(ss, x)
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
			for _, x := range ss {
				msg := fmt.Sprintf("stale: no heartbeat from %s since %s", x.worker, fromNano(x.heartbeat).Format(time.RFC3339Nano))
				if _, err := tx.ExecContext(ctx, s.rebind(`UPDATE hpo_trials SET state = ?, err = ?, finished = ? WHERE id = ? AND state = ?`),
					stFailed, msg, now, x.id, stRunning); err != nil {
					return err
				}
				if !req.RetryStale {
					continue
				}
				ps, ds, err := loadParams(ctx, tx, s, x.id)
				if err != nil {
					return err
				}
				fixed := map[string]any{}
				for k, v := range ps {
					fixed[k] = ds[k].External(v)
				}
				b, _ := json.Marshal(fixed)
				if _, err := tx.ExecContext(ctx, s.rebind(`INSERT INTO hpo_trials (study_id, number, state, fixed, retry_of) VALUES (?, ?, ?, ?, ?)`),
					studyID, next, stWaiting, string(b), x.number); err != nil {
					return err
				}
				next++
				retries++
			}
		}
		var id int64
		var number, retryOf int
		var fixed string
		err := tx.QueryRowContext(ctx, s.rebind(`SELECT id, number, fixed, retry_of FROM hpo_trials WHERE study_id = ? AND state = ? ORDER BY number LIMIT 1`),
			studyID, stWaiting).Scan(&id, &number, &fixed, &retryOf)
		switch {
		case err == nil:
			if _, err := tx.ExecContext(ctx, s.rebind(`UPDATE hpo_trials SET state = ?, worker = ?, started = ?, heartbeat = ? WHERE id = ?`),
				stRunning, req.Worker, now, now, id); err != nil {
				return err
			}
		case errors.Is(err, sql.ErrNoRows):
			if req.MaxTrials > 0 && next-retries >= req.MaxTrials {
				budgetUsed = true
				break
			}
			number, retryOf, fixed = next, -1, ""
			if err := tx.QueryRowContext(ctx, s.rebind(`INSERT INTO hpo_trials (study_id, number, state, worker, started, heartbeat) VALUES (?, ?, ?, ?, ?, ?) RETURNING id`),
				studyID, number, stRunning, req.Worker, now, now).Scan(&id); err != nil {
				return err
			}
			next++
		default:
			return err
		}
		if _, err := tx.ExecContext(ctx, s.rebind(`UPDATE hpo_studies SET next_number = ?, retries = ? WHERE id = ?`), next, retries, studyID); err != nil {
			return err
		}
		if budgetUsed {
			return nil
		}
		out = hpo.FrozenTrial{
			ID: id, Number: number, State: hpo.Running, RetryOf: retryOf, Worker: req.Worker,
			Started: req.Now, Heartbeat: req.Now,
			Params: map[string]float64{}, Distributions: map[string]hpo.Distribution{},
			Intermediate: map[int]float64{}, Attrs: map[string]string{},
		}
		if fixed != "" {
			if err := json.Unmarshal([]byte(fixed), &out.Fixed); err != nil {
				return fmt.Errorf("trial %d's fixed parameters: %w", number, err)
			}
		}
		return nil
	})
	if err != nil {
		return hpo.FrozenTrial{}, fmt.Errorf("sqlstore: claiming a trial: %w", err)
	}
	if budgetUsed {
		return hpo.FrozenTrial{}, hpo.ErrNoMoreTrials
	}
	return out, nil
}

func loadParams(ctx context.Context, tx *sql.Tx, s *Store, trialID int64) (map[string]float64, map[string]hpo.Distribution, error) {
	rows, err := tx.QueryContext(ctx, s.rebind(`SELECT name, value, dist FROM hpo_params WHERE trial_id = ?`), trialID)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	ps, ds := map[string]float64{}, map[string]hpo.Distribution{}
	for rows.Next() {
		var name, dist string
		var v float64
		if err := rows.Scan(&name, &v, &dist); err != nil {
			return nil, nil, err
		}
		var d hpo.Distribution
		if err := json.Unmarshal([]byte(dist), &d); err != nil {
			return nil, nil, err
		}
		ps[name], ds[name] = v, d
	}
	return ps, ds, rows.Err()
}

// EnqueueTrial implements hpo.Storage.
func (s *Store) EnqueueTrial(ctx context.Context, studyID int64, fixed map[string]any) error {
	b, err := json.Marshal(fixed)
	if err != nil {
		return fmt.Errorf("sqlstore: %w", err)
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		lock := `SELECT next_number FROM hpo_studies WHERE id = ?`
		if s.d == dPostgres {
			lock += ` FOR UPDATE`
		}
		var next int
		if err := tx.QueryRowContext(ctx, s.rebind(lock), studyID).Scan(&next); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.rebind(`INSERT INTO hpo_trials (study_id, number, state, fixed) VALUES (?, ?, ?, ?)`), studyID, next, stWaiting, string(b)); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, s.rebind(`UPDATE hpo_studies SET next_number = ? WHERE id = ?`), next+1, studyID)
		return err
	})
}

const ownRunning = `EXISTS (SELECT 1 FROM hpo_trials WHERE id = ? AND state = 0 AND worker = ?)`

func affected(n int64, err error) error {
	if err != nil {
		return fmt.Errorf("sqlstore: %w", err)
	}
	if n == 0 {
		return hpo.ErrNotRunning
	}
	return nil
}

// SetParam implements hpo.Storage.
func (s *Store) SetParam(ctx context.Context, trialID int64, worker, name string, value float64, d hpo.Distribution) error {
	b, _ := json.Marshal(d)
	return affected(s.exec(ctx, `INSERT INTO hpo_params (trial_id, name, value, dist) SELECT ?, ?, ?, ? WHERE `+ownRunning+`
		ON CONFLICT (trial_id, name) DO UPDATE SET value = excluded.value, dist = excluded.dist`,
		trialID, name, value, string(b), trialID, worker))
}

func nullable(v float64) any {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return v
}

// Report implements hpo.Storage.
func (s *Store) Report(ctx context.Context, trialID int64, worker string, step int, value float64) error {
	return affected(s.exec(ctx, `INSERT INTO hpo_values (trial_id, step, value) SELECT ?, ?, ? WHERE `+ownRunning+`
		ON CONFLICT (trial_id, step) DO UPDATE SET value = excluded.value`,
		trialID, step, nullable(value), trialID, worker))
}

// SetAttr implements hpo.Storage.
func (s *Store) SetAttr(ctx context.Context, trialID int64, worker, key, value string) error {
	return affected(s.exec(ctx, `INSERT INTO hpo_attrs (trial_id, key, value) SELECT ?, ?, ? WHERE `+ownRunning+`
		ON CONFLICT (trial_id, key) DO UPDATE SET value = excluded.value`,
		trialID, key, value, trialID, worker))
}

// Heartbeat implements hpo.Storage.
func (s *Store) Heartbeat(ctx context.Context, trialID int64, worker string, now time.Time) error {
	return affected(s.exec(ctx, `UPDATE hpo_trials SET heartbeat = ? WHERE id = ? AND state = 0 AND worker = ?`,
		unixNano(now), trialID, worker))
}

// FinishTrial implements hpo.Storage.
func (s *Store) FinishTrial(ctx context.Context, trialID int64, worker string, state hpo.TrialState, value float64, hasValue bool, errMsg string, now time.Time) error {
	if !state.Finished() {
		return fmt.Errorf("sqlstore: FinishTrial with state %v", state)
	}
	var v any
	if hasValue {
		v = nullable(value)
	}
	return affected(s.exec(ctx, `UPDATE hpo_trials SET state = ?, value = ?, err = ?, finished = ? WHERE id = ? AND state = 0 AND worker = ?`,
		int(state), v, errMsg, unixNano(now), trialID, worker))
}

// Trials implements hpo.Storage.
func (s *Store) Trials(ctx context.Context, studyID int64) ([]hpo.FrozenTrial, error) {
	var out []hpo.FrozenTrial
	err := s.retry(ctx, func() error {
		var err error
		out, err = s.trials(ctx, studyID)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("sqlstore: %w", err)
	}
	return out, nil
}

func (s *Store) trials(ctx context.Context, studyID int64) ([]hpo.FrozenTrial, error) {
	rows, err := s.db.QueryContext(ctx, s.rebind(`SELECT id, number, state, value, err, worker, fixed, retry_of, started, finished, heartbeat
		FROM hpo_trials WHERE study_id = ? ORDER BY number`), studyID)
	if err != nil {
		return nil, err
	}
	var out []hpo.FrozenTrial
	byID := map[int64]int{}
	for rows.Next() {
		var t hpo.FrozenTrial
		var state int
		var value sql.NullFloat64
		var fixed string
		var started, finished, hb int64
		if err := rows.Scan(&t.ID, &t.Number, &state, &value, &t.Err, &t.Worker, &fixed, &t.RetryOf, &started, &finished, &hb); err != nil {
			rows.Close()
			return nil, err
		}
		t.State, t.Value, t.HasValue = hpo.TrialState(state), value.Float64, value.Valid
		t.Started, t.Finished, t.Heartbeat = fromNano(started), fromNano(finished), fromNano(hb)
		if fixed != "" {
			_ = json.Unmarshal([]byte(fixed), &t.Fixed)
		}
		t.Params, t.Distributions = map[string]float64{}, map[string]hpo.Distribution{}
		t.Intermediate, t.Attrs = map[int]float64{}, map[string]string{}
		byID[t.ID] = len(out)
		out = append(out, t)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	sub := `SELECT %s FROM %s x JOIN hpo_trials t ON t.id = x.trial_id WHERE t.study_id = ?`
	rows, err = s.db.QueryContext(ctx, s.rebind(fmt.Sprintf(sub, "x.trial_id, x.name, x.value, x.dist", "hpo_params")), studyID)
	if err != nil {
		return nil, err
	}
	dists := map[string]hpo.Distribution{} // decoded once per distinct JSON
	for rows.Next() {
		var id int64
		var name, dist string
		var v float64
		if err := rows.Scan(&id, &name, &v, &dist); err != nil {
			rows.Close()
			return nil, err
		}
		i, ok := byID[id]
		if !ok {
			continue
		}
		d, ok := dists[dist]
		if !ok {
			if err := json.Unmarshal([]byte(dist), &d); err != nil {
				rows.Close()
				return nil, err
			}
			dists[dist] = d
		}
		out[i].Params[name], out[i].Distributions[name] = v, d
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows, err = s.db.QueryContext(ctx, s.rebind(fmt.Sprintf(sub, "x.trial_id, x.step, x.value", "hpo_values")), studyID)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var id int64
		var step int
		var v sql.NullFloat64
		if err := rows.Scan(&id, &step, &v); err != nil {
			rows.Close()
			return nil, err
		}
		if i, ok := byID[id]; ok {
			out[i].Intermediate[step] = math.NaN()
			if v.Valid {
				out[i].Intermediate[step] = v.Float64
			}
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows, err = s.db.QueryContext(ctx, s.rebind(fmt.Sprintf(sub, "x.trial_id, x.key, x.value", "hpo_attrs")), studyID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var k, v string
		if err := rows.Scan(&id, &k, &v); err != nil {
			return nil, err
		}
		if i, ok := byID[id]; ok {
			out[i].Attrs[k] = v
		}
	}
	return out, rows.Err()
}
