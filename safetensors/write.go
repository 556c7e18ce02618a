package safetensors

import (
	"bufio"
	"cmp"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"unicode/utf8"
)

// Write writes tensors and metadata to w in the safetensors format.
//
// The output matches what the reference Rust crate (and so Python's
// safetensors.torch.save_file) writes for the same input: tensors ordered by
// descending dtype alignment, then by name; a compact JSON header with
// "__metadata__" first (omitted when metadata is empty; its keys sorted),
// each entry's fields in the order dtype, shape, data_offsets; the header
// padded with spaces to a multiple of 8 bytes.
//
// Write returns an error wrapping ErrInvalid when a tensor's dtype is
// unknown, a dimension is negative, len(Data) does not match the dtype and
// shape, or a name is not valid UTF-8 or is "__metadata__".
func Write(w io.Writer, tensors map[string]TensorInfo, metadata map[string]string) error {
	header, order, err := prepare(tensors, metadata)
	if err != nil {
		return err
	}
	var lenBuf [8]byte
	binary.LittleEndian.PutUint64(lenBuf[:], uint64(len(header)))
	if _, err := w.Write(lenBuf[:]); err != nil {
		return err
	}
	if _, err := w.Write(header); err != nil {
		return err
	}
	for _, name := range order {
		if _, err := w.Write(tensors[name].Data); err != nil {
			return err
		}
	}
	return nil
}

// Marshal returns the bytes that Write would write.
func Marshal(tensors map[string]TensorInfo, metadata map[string]string) ([]byte, error) {
	var buf writeBuffer
	if err := Write(&buf, tensors, metadata); err != nil {
		return nil, err
	}
	return buf, nil
}

type writeBuffer []byte

func (b *writeBuffer) Write(p []byte) (int, error) {
	*b = append(*b, p...)
	return len(p), nil
}

// prepare validates the tensors and builds the padded header and the order of
// the tensors' bytes in the buffer.
func prepare(tensors map[string]TensorInfo, metadata map[string]string) ([]byte, []string, error) {
	order := make([]string, 0, len(tensors))
	for name, t := range tensors {
		if !utf8.ValidString(name) {
			return nil, nil, invalidf("tensor name %q is not valid UTF-8", name)
		}
		if name == metadataKey {
			return nil, nil, invalidf("tensor name %q is reserved", name)
		}
		size, err := byteSize(t.DType, t.Shape)
		if err != nil {
			return nil, nil, fmt.Errorf("tensor %q: %w", name, err)
		}
		if uint64(len(t.Data)) != size {
			return nil, nil, invalidf("tensor %q: dtype %s and shape %v need %d bytes, Data has %d", name, t.DType, t.Shape, size, len(t.Data))
		}
		order = append(order, name)
	}
	slices.SortFunc(order, func(a, b string) int {
		ra, rb := dtypes[tensors[a].DType].rank, dtypes[tensors[b].DType].rank
		if ra != rb {
			return cmp.Compare(rb, ra) // descending alignment
		}
		return cmp.Compare(a, b)
	})

	h := []byte{'{'}
	first := true
	if len(metadata) > 0 {
		keys := make([]string, 0, len(metadata))
		for k, v := range metadata {
			if !utf8.ValidString(k) || !utf8.ValidString(v) {
				return nil, nil, invalidf("metadata entry %q is not valid UTF-8", k)
			}
			keys = append(keys, k)
		}
		slices.Sort(keys)
		h = appendJSONString(h, metadataKey)
		h = append(h, ':', '{')
		for i, k := range keys {
			if i > 0 {
				h = append(h, ',')
			}
			h = appendJSONString(h, k)
			h = append(h, ':')
			h = appendJSONString(h, metadata[k])
		}
		h = append(h, '}')
		first = false
	}
	var offset uint64
	for _, name := range order {
		t := tensors[name]
		if !first {
			h = append(h, ',')
		}
		first = false
		h = appendJSONString(h, name)
		h = append(h, `:{"dtype":`...)
		h = appendJSONString(h, t.DType)
		h = append(h, `,"shape":[`...)
		for i, s := range t.Shape {
			if i > 0 {
				h = append(h, ',')
			}
			h = strconv.AppendInt(h, int64(s), 10)
		}
		h = append(h, `],"data_offsets":[`...)
		h = strconv.AppendUint(h, offset, 10)
		h = append(h, ',')
		offset += uint64(len(t.Data))
		h = strconv.AppendUint(h, offset, 10)
		h = append(h, ']', '}')
	}
	h = append(h, '}')
	for len(h)%8 != 0 {
		h = append(h, ' ')
	}
	return h, order, nil
}

// appendJSONString appends s as a JSON string escaped the way serde_json
// does: only '"', '\\' and control characters are escaped; non-ASCII text
// is written as UTF-8.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '"':
			b = append(b, '\\', '"')
		case '\\':
			b = append(b, '\\', '\\')
		case '\b':
			b = append(b, '\\', 'b')
		case '\f':
			b = append(b, '\\', 'f')
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			if c < 0x20 {
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			} else {
				b = append(b, c)
			}
		}
	}
	return append(b, '"')
}

// WriteFile writes tensors and metadata to path atomically: it writes a
// temporary file in the same directory, syncs it, renames it over path and
// syncs the directory, so that path holds either the old or the new
// contents, never a partial file. The file gets permissions 0644.
//
// The temporary file is named ".<base>.tmp-<host>-<pid>-<random>". Before
// it writes, WriteFile removes the temporary files of the same target that
// crashed saves left behind: those of processes of this host that no
// longer run, and any not modified for StaleTempAge. Concurrent saves of
// the same target (in this process or others) keep theirs.
func WriteFile(path string, tensors map[string]TensorInfo, metadata map[string]string) (err error) {
	header, order, err := prepare(tensors, metadata)
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	removeStaleTemps(path)
	tmp, release, err := createTemp(path)
	if err != nil {
		return fmt.Errorf("safetensors: %w", err)
	}
	defer release()
	tmpName := tmp.Name()
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmpName)
		}
	}()
	bw := bufio.NewWriterSize(tmp, 1<<20)
	var lenBuf [8]byte
	binary.LittleEndian.PutUint64(lenBuf[:], uint64(len(header)))
	bw.Write(lenBuf[:])
	bw.Write(header)
	for _, name := range order {
		bw.Write(tensors[name].Data)
	}
	if err = bw.Flush(); err != nil {
		return fmt.Errorf("safetensors: writing %s: %w", tmpName, err)
	}
	if err = tmp.Chmod(0o644); err != nil && runtime.GOOS != "windows" {
		return fmt.Errorf("safetensors: %w", err)
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("safetensors: syncing %s: %w", tmpName, err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("safetensors: closing %s: %w", tmpName, err)
	}
	if err = os.Rename(tmpName, path); err != nil {
		return fmt.Errorf("safetensors: %w", err)
	}
	return syncDir(dir)
}

// syncDir makes a rename in dir durable. Platforms that cannot open or sync
// a directory (Windows) skip this step.
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("safetensors: syncing directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("safetensors: syncing directory %s: %w", dir, err)
	}
	return nil
}
