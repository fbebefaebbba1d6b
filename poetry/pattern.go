package poetry

// TonePattern is one of the standard tonal patterns of five-character
// regulated verse that [Prosody.Analyze] matches poems against, for code
// that writes poems to a pattern rather than judging them.
type TonePattern struct {
	// Name is the pattern's name as [Analysis.Pattern] gives it, such as
	// "仄起首句不入韵".
	Name string
	// FirstLineRhymes reports whether the first line ends in the rhyme
	// (首句入韵).
	FirstLineRhymes bool
	// LevelRhyme reports whether the pattern rhymes on the level tone
	// (平韵), as regulated verse usually does, rather than on the oblique
	// tone (仄韵).
	LevelRhyme bool
	// Lines holds the tone class, [Ping] or [Ze], of each position of each
	// line of a poem of up to eight lines, counting from 0. A quatrain
	// takes the first four lines and a couplet the first two. By the rule
	// 一三不论 the first and third characters of a line are free in
	// practice; Analyze counts them little.
	Lines [8][LineLen]Tone
}

// TonePatterns returns the eight standard patterns, the commonest first:
// the order in which Analyze breaks ties. Each call returns a new slice.
func TonePatterns() []TonePattern {
	out := make([]TonePattern, len(patterns))
	for k := range patterns {
		pt := &patterns[k]
		out[k] = TonePattern{
			Name:            pt.name,
			FirstLineRhymes: pt.firstRhymes,
			LevelRhyme:      pt.lines[1][LineLen-1] == Ping,
		}
		for i := range out[k].Lines {
			out[k].Lines[i] = *pt.line(i)
		}
	}
	return out
}
