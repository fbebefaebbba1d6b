package main

import "syscall"

// mapPopulate maps all the pages of a file at once (MAP_POPULATE).
const mapPopulate = syscall.MAP_POPULATE
