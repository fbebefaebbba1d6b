package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestReadMapped: a mapped file reads as os.ReadFile reads it, an empty
// one too; a missing file is an error; and a file replaced by a rename
// after it was mapped leaves the mapped bytes as they were.
func TestReadMapped(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "codes")
	want := bytes.Repeat([]byte("詩0123456789"), 5000)
	if err := os.WriteFile(path, want, 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := readMapped(path)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("readMapped: %d bytes, %v; want the file's %d", len(got), err, len(want))
	}
	other := filepath.Join(dir, "new")
	if err := os.WriteFile(other, []byte("replaced"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(other, path); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Error("the mapped bytes changed when the file was replaced")
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := readMapped(empty); err != nil || len(got) != 0 {
		t.Errorf("an empty file: %q, %v", got, err)
	}
	if _, err := readMapped(filepath.Join(dir, "missing")); !os.IsNotExist(err) {
		t.Errorf("a missing file: %v", err)
	}
}
