// Package poetry models a classical Chinese five-character poem (五言诗) as a
// value and judges its form.
//
// A [Poem] is 2, 4 or 8 lines of [LineLen] Han characters: a couplet, a
// quatrain (绝句) or a regulated verse (律诗). [Parse] reads the ways people
// write such poems (with full-width or ASCII punctuation, one line per text
// line, or no punctuation at all) and reports what is wrong with the text
// when it cannot, as a [*ParseError]. [Poem.String] writes the canonical
// form, 床前明月光，疑是地上霜。…, which Parse reads back unchanged.
//
// # Tone and rhyme
//
// A [Prosody] knows, for each character, its tone class (平 level or 仄
// oblique, see [Tone]) and the rhyme groups it belongs to. [NewProsody]
// derives both from modern Mandarin readings; [Prosody.WithRhymeTable] adds a
// [RhymeTable] such as the 106 groups of the 平水韵, the rhyme book that Tang
// and Song verse is judged by. A table should be preferred for classical
// verse: modern readings lost the entering tone (入声), so that 白 bái, 十 shí
// or 国 guó read as level although they are oblique in verse, and they no
// longer keep apart groups such as 东 and 冬.
//
// Modern readings come from github.com/mozillazg/go-pinyin, chosen because it
// is pure Go (no cgo, no files to install), maintained, and embeds the
// Unicode pinyin data for some 40,000 characters including traditional
// forms and the CJK extensions, with every reading of a heteronym (多音字),
// which the level/oblique judgement needs. Rhyme tables are usually written
// in traditional characters; when one is loaded, github.com/longbridgeapp/opencc
// maps its characters to their simplified forms so that poems typed in
// simplified characters are judged by the table too.
//
// Where no rhyme table may be used, [LearnRhymes] learns rhyme classes from
// a corpus, from the characters that end the even lines of its poems, and
// [Prosody.WithRhymeClasses] judges and constrains rhyme by them. The
// classes ([RhymeClasses]) are small and have a JSON form, so a model can
// carry those of its training corpus.
//
// [NewTableProsody] judges by a table alone, as written, with neither
// simplified forms nor Mandarin readings; it reproduces the statistics
// published with a table, which count the characters the table lacks as
// unknown.
//
// # Form
//
// [Prosody.Analyze] matches a poem against the standard tonal patterns of
// five-character regulated verse and reports rhyme, the best pattern, a score
// and the rules broken. [Prosody.RhymeOK], [Prosody.LevelRhymeOK] and
// [Prosody.ErSiBuTong] are cheap, allocation-free checks for use inside
// decoding loops and corpus statistics.
//
// # Metrics
//
// [BLEU], [CorpusBLEU], [SelfBLEU] and [Distinct] compare and measure sets of
// poems with characters as tokens and n-grams kept within lines;
// [NoveltyIndex] counts the lines and poems of a set found verbatim in a
// training corpus.
package poetry
