package model

import (
	"syscall"
	"unsafe"
)

// madvPopulateWrite is Linux's MADV_POPULATE_WRITE (5.14 on): fault in the
// pages of a range, writable, in one call.
const madvPopulateWrite = 0x17

// prefault maps the memory of d, fresh from the allocator, before it is
// first written: one call for all its pages instead of a fault for each
// 4 KiB of them, which for the 19 MB of the built-in model's weights was
// a good part of loading it, on a virtual machine. Where the kernel does
// not know the call, or the memory is mapped already, it does nothing,
// and the pages fault in one by one as before.
func prefault[F float32 | float64](d []F) {
	size := len(d) * int(unsafe.Sizeof(F(0)))
	if size < prefaultMin {
		return
	}
	syscall.Madvise(unsafe.Slice((*byte)(unsafe.Pointer(&d[0])), size), madvPopulateWrite)
}

// prefaultMin is the fewest bytes worth the call: a few pages.
const prefaultMin = 64 << 10

// madvPopulateRead is Linux's MADV_POPULATE_READ (5.14 on): map the pages
// of a range, readable, in one call.
const madvPopulateRead = 0x16

// prefaultRead maps the pages of b, already in memory or in the page cache
// (the model built into the program, a mapped file), before they are
// read: one call instead of a fault for each 4 KiB, as prefault does for
// fresh memory.
func prefaultRead(b []byte) {
	if len(b) < prefaultMin {
		return
	}
	// The call wants a range that starts on a page: the part of a page
	// before the first whole one faults in as it is read.
	page := uintptr(syscall.Getpagesize())
	skip := int((page - uintptr(unsafe.Pointer(&b[0]))%page) % page)
	if skip < len(b) {
		syscall.Madvise(b[skip:], madvPopulateRead)
	}
}
