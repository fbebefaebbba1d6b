package corpus

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// decoder reads the uvarint-based binary formats of this package and words
// its errors for the reader.
type decoder struct {
	what string // "vocabulary", "keyword index"
	data []byte
	off  int
}

var errTruncated = errors.New("truncated")

func (d *decoder) errorf(format string, args ...any) error {
	return fmt.Errorf("corpus: %s: "+format, append([]any{d.what}, args...)...)
}

// magic checks the magic string and the version.
func (d *decoder) magic(magic string, version uint64) error {
	if len(d.data) < len(magic) || string(d.data[:len(magic)]) != magic {
		return d.errorf("bad magic: data does not start with %q", magic)
	}
	d.off = len(magic)
	v, err := d.uvarint("version")
	if err != nil {
		return err
	}
	if v != version {
		return d.errorf("unsupported version %d (want %d)", v, version)
	}
	return nil
}

// uvarint reads one uvarint; what names it in errors.
func (d *decoder) uvarint(what string) (uint64, error) {
	x, n := binary.Uvarint(d.data[d.off:])
	switch {
	case n == 0:
		return 0, fmt.Errorf("corpus: %s: %w reading %s at byte %d", d.what, errTruncated, what, d.off)
	case n < 0:
		return 0, d.errorf("%s at byte %d overflows 64 bits", what, d.off)
	}
	d.off += n
	return x, nil
}

// length reads a count of items that take at least minBytes each, and
// checks that the rest of the data can hold them.
func (d *decoder) length(what string, minBytes int) (int, error) {
	x, err := d.uvarint(what)
	if err != nil {
		return 0, err
	}
	if rest := uint64(len(d.data) - d.off); x > rest/uint64(minBytes) {
		return 0, fmt.Errorf("corpus: %s: %w: %s %d does not fit in the %d bytes left", d.what, errTruncated, what, x, rest)
	}
	return int(x), nil
}

// bytes reads n raw bytes.
func (d *decoder) bytes(n int, what string) ([]byte, error) {
	if n > len(d.data)-d.off {
		return nil, fmt.Errorf("corpus: %s: %w reading %s at byte %d", d.what, errTruncated, what, d.off)
	}
	b := d.data[d.off : d.off+n]
	d.off += n
	return b, nil
}

// end checks that all data was used.
func (d *decoder) end() error {
	if d.off != len(d.data) {
		return d.errorf("%d unexpected bytes after the end at byte %d", len(d.data)-d.off, d.off)
	}
	return nil
}
