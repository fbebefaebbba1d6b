package corpus

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/yanyiwu/gojieba"

	"poetvae/poetry"
)

// DictEnv is the environment variable that names the directory of the jieba
// dictionaries when no directory is given explicitly.
const DictEnv = "POETVAE_JIEBA_DICT"

// dictFiles are the files gojieba loads, in the order NewJieba takes them.
var dictFiles = []string{
	"jieba.dict.utf8",
	"hmm_model.utf8",
	"user.dict.utf8",
	"idf.utf8",
	"stop_words.utf8",
}

// DictDir returns the directory of the jieba dictionaries: flagValue when it
// is not empty, else the value of the environment variable DictEnv, else the
// directory compiled into gojieba, which is its source folder in the module
// cache of the machine that built the binary. The last works where the
// binary was built; a binary copied elsewhere needs one of the other two.
//
// DictDir fails, saying which files are missing and how to point at them,
// when the directory does not hold all the dictionary files.
func DictDir(flagValue string) (string, error) {
	dir, from := flagValue, "as given"
	if dir == "" {
		dir, from = os.Getenv(DictEnv), "from $"+DictEnv
	}
	if dir == "" {
		dir, from = gojieba.DICT_DIR, "the default compiled into the program"
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return "", fmt.Errorf("corpus: jieba dictionary directory %s (%s) does not exist; %s", dir, from, dictHelp())
	}
	var missing []string
	for _, f := range dictFiles {
		if fi, err := os.Stat(filepath.Join(dir, f)); err != nil || !fi.Mode().IsRegular() {
			missing = append(missing, f)
		}
	}
	switch {
	case len(missing) == len(dictFiles):
		return "", fmt.Errorf("corpus: jieba dictionary directory %s (%s) holds none of the dictionary files; %s", dir, from, dictHelp())
	case len(missing) > 0:
		return "", fmt.Errorf("corpus: jieba dictionary directory %s (%s) lacks %s; %s",
			dir, from, strings.Join(missing, ", "), dictHelp())
	}
	return dir, nil
}

func dictHelp() string {
	return fmt.Sprintf("it must hold %s, as found in deps/cppjieba/dict of the github.com/yanyiwu/gojieba module: "+
		"pass such a directory with the dictionary option or set %s to it", strings.Join(dictFiles, ", "), DictEnv)
}

// A Segmenter cuts Chinese text into words with jieba (结巴分词). Loading the
// dictionaries takes about half a second and 130 MB of memory outside the Go
// heap, so it happens on first use, not when the Segmenter is made: commands
// that never segment never pay for it.
//
// A Segmenter is safe for concurrent use. Close frees the dictionaries; a
// closed Segmenter returns an error from every method.
type Segmenter struct {
	dir string // as given to NewSegmenter

	mu     sync.RWMutex
	jb     *gojieba.Jieba // nil until loaded and after Close
	err    error          // the load error, kept so that a bad setup fails fast
	closed bool
}

// NewSegmenter returns a segmenter that will load its dictionaries from
// dictDir, resolved with DictDir (so "" means $POETVAE_JIEBA_DICT or the
// default). It loads and checks nothing yet: problems with the dictionaries
// are reported by the first Cut or Extract.
func NewSegmenter(dictDir string) *Segmenter {
	return &Segmenter{dir: dictDir}
}

var errClosed = errors.New("corpus: segmenter used after Close")

// with runs f with the loaded jieba, loading it first if need be. f runs
// under the read lock, so that Close cannot free the dictionaries under it.
func (s *Segmenter) with(f func(*gojieba.Jieba)) error {
	if s == nil {
		return errors.New("corpus: nil Segmenter")
	}
	for {
		s.mu.RLock()
		if jb := s.jb; jb != nil {
			defer s.mu.RUnlock()
			f(jb)
			return nil
		}
		s.mu.RUnlock()
		if err := s.load(); err != nil {
			return err
		}
	}
}

// load loads the dictionaries unless that was done, failed or the
// segmenter is closed.
func (s *Segmenter) load() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return errClosed
	case s.err != nil:
		return s.err
	case s.jb != nil:
		return nil
	}
	dir, err := DictDir(s.dir)
	if err == nil {
		s.jb, err = openJieba(dir)
	}
	s.err = err
	return err
}

// openJieba loads the dictionaries of dir. DictDir has checked that the
// files exist, but gojieba panics rather than fail if one vanished since,
// and a panic must not escape this package.
func openJieba(dir string) (jb *gojieba.Jieba, err error) {
	defer func() {
		if r := recover(); r != nil {
			jb, err = nil, fmt.Errorf("corpus: loading jieba dictionaries from %s: %v", dir, r)
		}
	}()
	paths := make([]string, len(dictFiles))
	for i, f := range dictFiles {
		paths[i] = filepath.Join(dir, f)
	}
	return gojieba.NewJieba(paths...), nil
}

// Close frees the dictionaries. It is safe to call more than once.
func (s *Segmenter) Close() {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.jb != nil {
		s.jb.Free()
		s.jb = nil
	}
	s.closed = true
}

// Cut splits text into words in jieba's accurate mode, with its hidden
// Markov model guessing words that are not in the dictionary. Punctuation
// and spaces come back as words of their own.
func (s *Segmenter) Cut(text string) ([]string, error) {
	var words []string
	err := s.with(func(jb *gojieba.Jieba) { words = jb.Cut(text, true) })
	return words, err
}

// Extract returns up to topK keywords of a free-text theme, such as
// "江南春雨", best first, by jieba's TF-IDF keyword extraction. The theme is
// first converted to simplified characters, the script of the dictionaries
// and of Index keys. Only words made of Han characters and not on the stop
// list are returned.
//
// jieba's extractor ignores one-character words, but a theme such as "月"
// or "山 水" is nothing else; when it finds no keyword, Extract falls back
// to the words of Cut, in order.
func (s *Segmenter) Extract(theme string, topK int) ([]string, error) {
	if topK < 1 {
		return nil, fmt.Errorf("corpus: asked for %d keywords; want at least 1", topK)
	}
	theme, err := simplify(theme)
	if err != nil {
		return nil, err
	}
	var extracted, cut []string
	err = s.with(func(jb *gojieba.Jieba) {
		extracted = jb.Extract(theme, topK)
		if len(keywords(extracted, topK)) == 0 {
			cut = jb.Cut(theme, true)
		}
	})
	if err != nil {
		return nil, err
	}
	if kw := keywords(extracted, topK); len(kw) > 0 {
		return kw, nil
	}
	return keywords(cut, topK), nil
}

// keywords returns up to n distinct words of words that are made of Han
// characters and are not stop words, in order.
func keywords(words []string, n int) []string {
	var kw []string
	for _, w := range words {
		if len(kw) == n {
			break
		}
		if isKeyword(w) && !slices.Contains(kw, w) {
			kw = append(kw, w)
		}
	}
	return kw
}

// isKeyword reports whether w is worth indexing: all Han characters and
// not a stop word.
func isKeyword(w string) bool {
	if w == "" || stopWords[w] {
		return false
	}
	for _, r := range w {
		if !poetry.IsHan(r) {
			return false
		}
	}
	return true
}

// stopWords are the function words of classical verse: frequent enough to
// match half the corpus, they say nothing about a poem's subject. Both
// scripts are listed because an index of a corpus that is not converted
// keeps its traditional forms.
var stopWords = func() map[string]bool {
	m := make(map[string]bool)
	for _, r := range "之乎者也矣焉哉兮而其以于於与與亦且乃则則所此彼是为為不无無莫未非有我吾予余尔爾汝一" {
		m[string(r)] = true
	}
	return m
}()
