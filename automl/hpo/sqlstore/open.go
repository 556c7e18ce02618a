package sqlstore

import (
	"fmt"
	"strings"
)

// Open opens a store from a specification: "sqlite:PATH" (or a bare path
// ending in .db or .sqlite) or "postgres:DSN" (or a postgres:// or
// postgresql:// URL).
func Open(spec string) (*Store, error) {
	switch {
	case strings.HasPrefix(spec, "sqlite:"):
		return OpenSQLite(strings.TrimPrefix(spec, "sqlite:"))
	case strings.HasPrefix(spec, "postgres://"), strings.HasPrefix(spec, "postgresql://"):
		return OpenPostgres(spec)
	case strings.HasPrefix(spec, "postgres:"):
		return OpenPostgres(strings.TrimPrefix(spec, "postgres:"))
	case strings.HasSuffix(spec, ".db"), strings.HasSuffix(spec, ".sqlite"):
		return OpenSQLite(spec)
	}
	return nil, fmt.Errorf("sqlstore: unknown storage %q (want sqlite:PATH or postgres:DSN)", spec)
}
