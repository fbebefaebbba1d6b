//go:build gpu

package cuda

import "unsafe"

func unsafePointer(x []int32) unsafe.Pointer { return unsafe.Pointer(&x[0]) }
