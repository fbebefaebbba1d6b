//go:build gpu

package cuda

import "strings"

// kernelNames lists the kernels a PTX module defines (its ".entry" lines).
func kernelNames(ptx string) []string {
	var names []string
	for _, line := range strings.Split(ptx, "\n") {
		f := strings.Fields(line)
		for i := 0; i+1 < len(f); i++ {
			if f[i] == ".entry" {
				names = append(names, strings.TrimRight(f[i+1], "("))
			}
		}
	}
	return names
}
