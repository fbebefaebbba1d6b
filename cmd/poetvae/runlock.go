package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// lockRun takes the lock of a training run that writes out: a file
// out.lock beside it, locked with flock(2) for as long as the run goes.
// A second run on the same output, or a --resume of a run still going, is
// refused with the holder's pid, rather than both reporting success while
// one overwrites the other. The kernel drops the lock when its process
// dies, even by kill -9, so a crashed run never leaves the output locked.
//
// Holding the lock, it removes the temporary files that a run killed in
// the middle of a save left beside the output (out.tmp*, NAME.last.ckpt.tmp*):
// no other run can be writing them.
func lockRun(out, lastPath string) (release func(), err error) {
	path := out + ".lock"
	for range 3 {
		f, err := lockFile(out, path)
		if err != nil {
			return nil, err
		}
		// A run ending between our open and our lock removes the file it
		// held: the lock is then on a file nobody else will open. Take
		// the one at the path instead.
		held, err1 := f.Stat()
		now, err2 := os.Stat(path)
		if err1 != nil || err2 != nil || !os.SameFile(held, now) {
			f.Close()
			continue
		}
		if err := f.Truncate(0); err == nil {
			f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
		}
		for _, p := range []string{out, lastPath} {
			stale, _ := filepath.Glob(globEscape(p) + ".tmp*")
			for _, s := range stale {
				os.Remove(s)
			}
		}
		return func() {
			// Remove before unlocking, so that a run starting now never
			// keeps a lock on a file that is gone.
			os.Remove(path)
			f.Close()
		}, nil
	}
	return nil, fmt.Errorf("locking the run with %s: the lock file keeps changing", path)
}

// lockFile opens and locks the lock file at path, or says who holds it.
func lockFile(out, path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("locking the run: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		defer f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			holder := "another process"
			if b, rerr := os.ReadFile(path); rerr == nil {
				if pid, perr := strconv.Atoi(strings.TrimSpace(string(b))); perr == nil {
					holder = fmt.Sprintf("process %d", pid)
				}
			}
			return nil, fmt.Errorf("a training run writing %s is still going (%s holds %s): wait for it to end, or stop it first", out, holder, path)
		}
		return nil, fmt.Errorf("locking the run with %s: %w", path, err)
	}
	return f, nil
}

// globEscape quotes the characters that filepath.Glob would read as a
// pattern in a file name.
func globEscape(p string) string {
	r := strings.NewReplacer(`\`, `\\`, `*`, `\*`, `?`, `\?`, `[`, `\[`)
	return r.Replace(p)
}
