//go:build unix && !linux

package main

// mapPopulate: other systems map a file's pages as they are read.
const mapPopulate = 0
