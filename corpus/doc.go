// Package corpus reads, imports and indexes collections of five-character
// quatrains (五言绝句) and turns them into the fixed-shape id matrices that
// the VAE trains on.
//
// A corpus file holds one poem per line in UTF-8, in the form accepted by
// [poetry.Parse]. Blank lines and lines starting with '#' are ignored, a
// byte order mark and CRLF line ends are tolerated, a file compressed with
// gzip is read decompressed, and malformed lines are skipped and reported
// rather than aborting the read, so that one bad line in a large corpus
// costs one poem, not the whole run. A file that is not UTF-8 text at all
// (a model given by mistake, UTF-16) is refused as a whole.
//
// The package also converts the JSON files of the chinese-poetry project
// into that format ([Import]), maps characters to ids ([Vocab]), cuts a
// corpus into batches ([Batches]), indexes poems by the words they
// contain ([Index]) so that a free-text theme can be matched to poems, and
// reads a poem typed in one script, simplified or traditional, in the
// script of a model's vocabulary ([MatchScript]).
package corpus
