//go:build !linux

package model

// prefault does nothing but on Linux (prefault_linux.go).
func prefault[F float32 | float64]([]F) {}

// prefaultRead does nothing but on Linux (prefault_linux.go).
func prefaultRead([]byte) {}
