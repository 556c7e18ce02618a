package cudakernels

import (
	"bufio"
	"bytes"
	"embed"
	"fmt"
	"path"
	"regexp"
	"sort"
	"strings"
)

//go:embed ptx/*.ptx
var files embed.FS

// Modules returns the names of the embedded PTX modules ("elementwise",
// "index", "optim", "random", "reduce"), sorted.
func Modules() []string {
	ents, _ := files.ReadDir("ptx")
	var out []string
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".ptx") {
			out = append(out, strings.TrimSuffix(e.Name(), ".ptx"))
		}
	}
	sort.Strings(out)
	return out
}

// PTX returns the PTX text of a module.
func PTX(module string) ([]byte, error) {
	b, err := files.ReadFile(path.Join("ptx", module+".ptx"))
	if err != nil {
		return nil, fmt.Errorf("cudakernels: no PTX module %q", module)
	}
	return b, nil
}

// Header is what gen.sh records at the top of a PTX file, plus the PTX
// .version and .target directives.
type Header struct {
	Compiler string            // "Cuda compilation tools, release 11.8, V11.8.89"
	Flags    string            // nvcc flags
	Sources  map[string]string // file name -> SHA-256 (hex)
	Version  string            // PTX ISA version, e.g. "7.8"
	Target   string            // e.g. "sm_70"
}

var entryRE = regexp.MustCompile(`(?m)^\.visible \.entry ([A-Za-z_][A-Za-z0-9_]*)\(`)

// Entries returns the kernel names (.visible .entry) defined in a PTX text.
func Entries(ptx []byte) []string {
	var out []string
	for _, m := range entryRE.FindAllSubmatch(ptx, -1) {
		out = append(out, string(m[1]))
	}
	return out
}

// ParseHeader reads the generator's header and the PTX directives.
func ParseHeader(ptx []byte) Header {
	h := Header{Sources: map[string]string{}}
	sc := bufio.NewScanner(bytes.NewReader(ptx))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, "// compiler: "):
			h.Compiler = strings.TrimPrefix(line, "// compiler: ")
		case strings.HasPrefix(line, "// flags: "):
			h.Flags = strings.TrimPrefix(line, "// flags: ")
		case strings.HasPrefix(line, "// source-sha256: "):
			f := strings.Fields(strings.TrimPrefix(line, "// source-sha256: "))
			if len(f) == 2 {
				h.Sources[f[0]] = f[1]
			}
		case strings.HasPrefix(line, ".version "):
			h.Version = strings.TrimSpace(strings.TrimPrefix(line, ".version "))
		case strings.HasPrefix(line, ".target "):
			h.Target = strings.TrimSpace(strings.TrimPrefix(line, ".target "))
			return h // the directives come before any code
		}
	}
	return h
}
