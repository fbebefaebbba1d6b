//go:build unix

package main

import (
	"os"
	"syscall"
)

// readMapped returns the bytes of the file at path, mapped read-only into
// memory rather than copied, for a cache read once a command: its pages
// come straight from the page cache, where a read would fault in a fresh
// buffer page by page and copy the file into it (on a virtual machine,
// most of the time of reading the 15,000 codes of a corpus). The mapping
// lasts as long as the process: the file is only ever replaced whole, by
// a rename, which leaves the mapped pages as they were. An empty file, or
// one that cannot be mapped, is read as os.ReadFile reads it.
func readMapped(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	size := st.Size()
	if !st.Mode().IsRegular() || size <= 0 || size != int64(int(size)) {
		return os.ReadFile(path)
	}
	data, err := syscall.Mmap(int(f.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_PRIVATE|mapPopulate)
	if err != nil {
		return os.ReadFile(path)
	}
	return data, nil
}
