//go:build !unix

package main

import "os"

// readMapped is os.ReadFile where files are not mapped.
func readMapped(path string) ([]byte, error) { return os.ReadFile(path) }
