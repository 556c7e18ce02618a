package safetensors

import (
	"fmt"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// Limits bound what a file's header may declare, so that a hostile header
// costs bounded memory and time (the header parser is linear in the
// header's length). Parse, Read and ReadFile use DefaultLimits; ParseLimits
// and ReadLimits take others.
type Limits struct {
	// HeaderSize is the largest header accepted, in bytes.
	HeaderSize uint64
	// Tensors is the most tensor entries a header may hold.
	Tensors int
	// Rank is the most dimensions a tensor's shape may have.
	Rank int
}

// DefaultLimits are the limits of Parse, Read and ReadFile: a 100 MB
// header (the reference implementation's bound), 1,048,576 tensors (the
// largest published checkpoints hold a few hundred thousand across all
// their shards) and 64 dimensions per shape (PyTorch's limit).
var DefaultLimits = Limits{HeaderSize: MaxHeaderSize, Tensors: 1 << 20, Rank: 64}

// maxSkipDepth bounds the nesting of unknown values that the parser skips.
const maxSkipDepth = 64

// hparser is a JSON parser for exactly the safetensors header: an object
// of tensor entries and an optional "__metadata__" map of strings. It does
// one pass over the bytes and allocates only the names, dtypes, shapes and
// metadata it returns.
type hparser struct {
	s   []byte
	i   int
	lim Limits
}

func (p *hparser) errorf(format string, args ...any) error {
	return invalidf("header: "+format, args...)
}

func (p *hparser) ws() {
	for p.i < len(p.s) {
		switch p.s[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *hparser) peek() byte {
	if p.i < len(p.s) {
		return p.s[p.i]
	}
	return 0
}

func (p *hparser) expect(c byte) error {
	p.ws()
	if p.peek() != c {
		return p.errorf("expected '%c' at offset %d, found %s", c, p.i, p.found())
	}
	p.i++
	return nil
}

// found describes the byte at the current position for an error message.
func (p *hparser) found() string {
	if p.i >= len(p.s) {
		return "the end of the header"
	}
	return strconv.QuoteRune(rune(p.s[p.i]))
}

// object parses '{' (member (',' member)*)? '}', calling value after each
// key (the parser then sits at the value); duplicate keys are an error.
func (p *hparser) object(what string, value func(key []byte) error) error {
	p.ws()
	if p.peek() != '{' {
		return p.errorf("%s: expected an object at offset %d, found %s", what, p.i, p.found())
	}
	p.i++
	var seen keySet
	p.ws()
	if p.peek() == '}' {
		p.i++
		return nil
	}
	for {
		p.ws()
		key, err := p.rawStr()
		if err != nil {
			return err
		}
		if !seen.add(key) {
			return p.errorf("duplicate key %q", key)
		}
		if err := p.expect(':'); err != nil {
			return err
		}
		p.ws()
		if err := value(key); err != nil {
			return err
		}
		p.ws()
		switch p.peek() {
		case ',':
			p.i++
		case '}':
			p.i++
			return nil
		default:
			return p.errorf("expected ',' or '}' at offset %d, found %s", p.i, p.found())
		}
	}
}

// keySet holds an object's keys to find duplicates: an inline array for
// the usual few keys (no allocation per tensor entry), a map beyond that
// (so that an object of many keys stays linear).
type keySet struct {
	few  [4][]byte
	n    int
	many map[string]struct{}
}

// add adds key and reports whether it was new.
func (k *keySet) add(key []byte) bool {
	if k.many != nil {
		if _, dup := k.many[string(key)]; dup {
			return false
		}
		k.many[string(key)] = struct{}{}
		return true
	}
	for _, s := range k.few[:k.n] {
		if string(s) == string(key) {
			return false
		}
	}
	if k.n < len(k.few) {
		k.few[k.n] = key
		k.n++
		return true
	}
	k.many = make(map[string]struct{}, 16)
	for _, s := range k.few {
		k.many[string(s)] = struct{}{}
	}
	k.many[string(key)] = struct{}{}
	return true
}

// rawStr parses a JSON string and returns its bytes: a slice of the header
// when it has no escapes (no allocation), else the decoded bytes.
func (p *hparser) rawStr() ([]byte, error) {
	if p.peek() != '"' {
		return nil, p.errorf("expected a string at offset %d, found %s", p.i, p.found())
	}
	start := p.i + 1
	for j := start; j < len(p.s); j++ {
		c := p.s[j]
		if c == '"' {
			p.i = j + 1
			return p.s[start:j:j], nil
		}
		if c == '\\' || c < 0x20 {
			break
		}
	}
	s, err := p.str()
	return []byte(s), err
}

// str parses a JSON string.
func (p *hparser) str() (string, error) {
	if p.peek() != '"' {
		return "", p.errorf("expected a string at offset %d, found %s", p.i, p.found())
	}
	p.i++
	start := p.i
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch {
		case c == '"':
			s := string(p.s[start:p.i])
			p.i++
			return s, nil
		case c == '\\':
			return p.strEscaped(start)
		case c < 0x20:
			return "", p.errorf("control character in a string at offset %d", p.i)
		}
		p.i++
	}
	return "", p.errorf("unterminated string at offset %d", start-1)
}

// strEscaped finishes a string that has escapes, from its start.
func (p *hparser) strEscaped(start int) (string, error) {
	b := append([]byte(nil), p.s[start:p.i]...)
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch {
		case c == '"':
			p.i++
			return string(b), nil
		case c < 0x20:
			return "", p.errorf("control character in a string at offset %d", p.i)
		case c != '\\':
			b = append(b, c)
			p.i++
			continue
		}
		if p.i+1 >= len(p.s) {
			break
		}
		e := p.s[p.i+1]
		p.i += 2
		switch e {
		case '"', '\\', '/':
			b = append(b, e)
		case 'b':
			b = append(b, '\b')
		case 'f':
			b = append(b, '\f')
		case 'n':
			b = append(b, '\n')
		case 'r':
			b = append(b, '\r')
		case 't':
			b = append(b, '\t')
		case 'u':
			r, ok := p.hex4()
			if !ok {
				return "", p.errorf("bad \\u escape at offset %d", p.i-2)
			}
			if utf16.IsSurrogate(r) {
				r2 := utf8.RuneError
				if p.i+1 < len(p.s) && p.s[p.i] == '\\' && p.s[p.i+1] == 'u' {
					save := p.i
					p.i += 2
					if lo, ok := p.hex4(); ok {
						if d := utf16.DecodeRune(r, lo); d != utf8.RuneError {
							r2 = d
						} else {
							p.i = save
						}
					} else {
						p.i = save
					}
				}
				r = r2
			}
			b = utf8.AppendRune(b, r)
		default:
			return "", p.errorf("bad escape '\\%c' at offset %d", e, p.i-2)
		}
	}
	return "", p.errorf("unterminated string at offset %d", start-1)
}

func (p *hparser) hex4() (rune, bool) {
	if p.i+4 > len(p.s) {
		return 0, false
	}
	v, err := strconv.ParseUint(string(p.s[p.i:p.i+4]), 16, 32)
	if err != nil {
		return 0, false
	}
	p.i += 4
	return rune(v), true
}

// number scans a JSON number and returns its text.
func (p *hparser) number() ([]byte, error) {
	start := p.i
	if p.peek() == '-' {
		p.i++
	}
	switch {
	case p.peek() == '0':
		p.i++
	case p.peek() >= '1' && p.peek() <= '9':
		for p.peek() >= '0' && p.peek() <= '9' {
			p.i++
		}
	default:
		return nil, p.errorf("expected a number at offset %d, found %s", start, p.found())
	}
	if p.peek() == '.' {
		p.i++
		if !(p.peek() >= '0' && p.peek() <= '9') {
			return nil, p.errorf("bad number at offset %d", start)
		}
		for p.peek() >= '0' && p.peek() <= '9' {
			p.i++
		}
	}
	if c := p.peek(); c == 'e' || c == 'E' {
		p.i++
		if c := p.peek(); c == '+' || c == '-' {
			p.i++
		}
		if !(p.peek() >= '0' && p.peek() <= '9') {
			return nil, p.errorf("bad number at offset %d", start)
		}
		for p.peek() >= '0' && p.peek() <= '9' {
			p.i++
		}
	}
	return p.s[start:p.i], nil
}

// uintArray parses an array of non-negative integers of at most max
// elements.
func (p *hparser) uintArray(what string, max int) ([]uint64, error) {
	if p.peek() != '[' {
		return nil, p.errorf("%s is %s, not an array", what, p.describeValue())
	}
	p.i++
	out := make([]uint64, 0, 4)
	p.ws()
	if p.peek() == ']' {
		p.i++
		return out, nil
	}
	for {
		p.ws()
		c := p.peek()
		if c != '-' && (c < '0' || c > '9') {
			return nil, p.errorf("%s element is %s, not a number", what, p.describeValue())
		}
		num, err := p.number()
		if err != nil {
			return nil, err
		}
		v, err := strconv.ParseUint(string(num), 10, 64)
		if err != nil {
			return nil, invalidf("%s element %s is not a non-negative integer", what, num)
		}
		if len(out) == max {
			return nil, invalidf("%s has more than %d elements", what, max)
		}
		out = append(out, v)
		p.ws()
		switch p.peek() {
		case ',':
			p.i++
		case ']':
			p.i++
			return out, nil
		default:
			return nil, p.errorf("expected ',' or ']' at offset %d, found %s", p.i, p.found())
		}
	}
}

// describeValue names the kind of JSON value at the current position.
func (p *hparser) describeValue() string {
	switch c := p.peek(); {
	case c == '"':
		return "a string"
	case c == '{':
		return "an object"
	case c == '[':
		return "an array"
	case c == 't' || c == 'f':
		return "a boolean"
	case c == 'n':
		return "null"
	case c == '-' || (c >= '0' && c <= '9'):
		return "a number"
	}
	return p.found()
}

// skip parses and discards any JSON value (nesting at most maxSkipDepth).
func (p *hparser) skip(depth int) error {
	if depth > maxSkipDepth {
		return p.errorf("values nested deeper than %d at offset %d", maxSkipDepth, p.i)
	}
	p.ws()
	switch c := p.peek(); {
	case c == '"':
		_, err := p.str()
		return err
	case c == '{':
		return p.object("value", func([]byte) error { return p.skip(depth + 1) })
	case c == '[':
		p.i++
		p.ws()
		if p.peek() == ']' {
			p.i++
			return nil
		}
		for {
			if err := p.skip(depth + 1); err != nil {
				return err
			}
			p.ws()
			switch p.peek() {
			case ',':
				p.i++
			case ']':
				p.i++
				return nil
			default:
				return p.errorf("expected ',' or ']' at offset %d, found %s", p.i, p.found())
			}
		}
	case c == '-' || (c >= '0' && c <= '9'):
		_, err := p.number()
		return err
	}
	for _, lit := range []string{"true", "false", "null"} {
		if len(p.s)-p.i >= len(lit) && string(p.s[p.i:p.i+len(lit)]) == lit {
			p.i += len(lit)
			return nil
		}
	}
	return p.errorf("expected a value at offset %d, found %s", p.i, p.found())
}

// header parses the whole header.
func (p *hparser) header() ([]headerEntry, map[string]string, error) {
	var entries []headerEntry
	var meta map[string]string
	err := p.object("header", func(keyb []byte) error {
		key := string(keyb)
		if key == metadataKey {
			m := map[string]string{}
			err := p.object(metadataKey, func(kb []byte) error {
				k := string(kb)
				if p.peek() != '"' {
					return p.errorf("%s: value of %q is %s, not a string", metadataKey, k, p.describeValue())
				}
				v, err := p.str()
				m[k] = v
				return err
			})
			meta = m
			return err
		}
		if len(entries) == p.lim.Tensors {
			return invalidf("header declares more than %d tensors (Limits.Tensors)", p.lim.Tensors)
		}
		e, err := p.entry()
		if err != nil {
			return fmt.Errorf("tensor %q: %w", key, err)
		}
		e.name = key
		entries = append(entries, e)
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	p.ws()
	if p.i != len(p.s) {
		return nil, nil, invalidf("header: data after the JSON object at offset %d", p.i)
	}
	return entries, meta, nil
}

func (p *hparser) entry() (headerEntry, error) {
	var e headerEntry
	var haveDType, haveShape, haveOffsets bool
	err := p.object("tensor entry", func(key []byte) error {
		switch string(key) {
		case "dtype":
			if p.peek() != '"' {
				return invalidf("dtype is %s, not a string", p.describeValue())
			}
			s, err := p.rawStr()
			if err != nil {
				return err
			}
			name, ok := dtypeNames[string(s)]
			if !ok {
				return invalidf("unknown dtype %q", s)
			}
			e.dtype, haveDType = name, true
		case "shape":
			dims, err := p.uintArray("shape", p.lim.Rank)
			if err != nil {
				return err
			}
			e.shape = make([]int, len(dims))
			for i, d := range dims {
				if d > uint64(maxInt) {
					return invalidf("shape dimension %d is too large", d)
				}
				e.shape[i] = int(d)
			}
			haveShape = true
		case "data_offsets":
			offs, err := p.uintArray("data_offsets", 3)
			if err != nil {
				return err
			}
			if len(offs) != 2 {
				return invalidf("data_offsets has %d elements, want 2", len(offs))
			}
			e.begin, e.end, haveOffsets = offs[0], offs[1], true
		default:
			// Unknown fields are ignored, as the reference reader does.
			return p.skip(0)
		}
		return nil
	})
	if err != nil {
		return e, err
	}
	switch {
	case !haveDType:
		return e, invalidf("missing dtype")
	case !haveShape:
		return e, invalidf("missing shape")
	case !haveOffsets:
		return e, invalidf("missing data_offsets")
	}
	return e, nil
}

const maxInt = int(^uint(0) >> 1)

// dtypeNames maps each dtype name to itself, so that entries share one
// string per dtype.
var dtypeNames = func() map[string]string {
	m := make(map[string]string, len(dtypes))
	for k := range dtypes {
		m[k] = k
	}
	return m
}()
