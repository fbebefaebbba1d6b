package corpus

import (
	"bufio"
	"io"
)

// lineReader splits input into lines like bufio.Scanner, but a line longer
// than MaxLineBytes is reported as too long and skipped instead of ending
// the scan, so that one bad line does not lose the rest of the file.
type lineReader struct {
	br  *bufio.Reader
	buf []byte // holds a line that spans more than one buffer fill
}

// next returns the next line without its "\n" or "\r\n" end. When the line
// is longer than MaxLineBytes, tooLong is set and line holds only its start.
// The returned slice is valid until the next call. At the end of input next
// returns io.EOF; a last line without a line end is still returned first.
func (lr *lineReader) next() (line []byte, tooLong bool, err error) {
	chunk, err := lr.br.ReadSlice('\n')
	switch err {
	case nil:
		// The common case: the whole line is in the buffer.
		return trimEOL(chunk), false, nil
	case io.EOF:
		if len(chunk) == 0 {
			return nil, false, io.EOF
		}
		return trimEOL(chunk), false, nil
	case bufio.ErrBufferFull:
		// Collect the rest below.
	default:
		return nil, false, err
	}

	lr.buf = append(lr.buf[:0], chunk...)
	for {
		chunk, err = lr.br.ReadSlice('\n')
		// Keep at most MaxLineBytes plus a line end, enough to decide
		// whether the line is too long without holding all of it.
		if room := max(MaxLineBytes+2-len(lr.buf), 0); len(chunk) > room {
			tooLong = true
			chunk = chunk[:room]
		}
		lr.buf = append(lr.buf, chunk...)
		switch err {
		case nil, io.EOF:
			line = trimEOL(lr.buf)
			if tooLong || len(line) > MaxLineBytes {
				return line[:min(len(line), MaxLineBytes)], true, nil
			}
			return line, false, nil
		case bufio.ErrBufferFull:
			continue
		default:
			return nil, false, err
		}
	}
}

// trimEOL removes a trailing "\n" or "\r\n".
func trimEOL(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
		if n := len(b); n > 0 && b[n-1] == '\r' {
			b = b[:n-1]
		}
	}
	return b
}
