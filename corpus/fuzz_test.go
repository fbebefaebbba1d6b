package corpus

import (
	"bytes"
	"slices"
	"testing"

	"poetvae/poetry"
)

func FuzzRead(f *testing.F) {
	seeds := []string{
		luChai + "\n" + jingYeSi + "\n",
		"\uFEFF# 王維《鹿柴》\r\n" + luChai + "\r\n\r\n" + luChai,
		"白日依山盡，黃河入海流。\n" + luChai + jingYeSi + "\n",
		"床前明月光，\xff\xfe疑是地上霜。\n",
		"空山不見人, 但聞人語響. 返景入深林, 復照青苔上.",
		"床前明月光，疑是地上霜。舉頭望明月。\n，。\n#\n\n",
		"\r\n\r\r\n\x00\n",
		"\xff\xfe\x8a\x7a",
		"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff",
		"",
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		poems, rep, err := ReadFrom(bytes.NewReader(data), "fuzz")
		if rep == nil {
			t.Fatal("nil report")
		}
		if err != nil && len(poems) > 0 {
			t.Fatalf("error %v with %d poems", err, len(poems))
		}
		if err == nil && len(poems) == 0 {
			t.Fatal("no poems and no error")
		}
		checkReport(t, rep)
		if rep.Accepted != len(poems) {
			t.Errorf("Accepted = %d, returned %d poems", rep.Accepted, len(poems))
		}
		seen := make(map[string]bool)
		for _, p := range poems {
			q, err := poetry.Parse(p.String())
			if err != nil {
				t.Fatalf("accepted poem %q does not parse: %v", p, err)
			}
			if !slices.Equal(q.Chars(), p.Chars()) {
				t.Fatalf("accepted poem %q parses to %q", p, q)
			}
			if seen[p.Text()] {
				t.Fatalf("poem %q returned twice", p)
			}
			seen[p.Text()] = true
		}
	})
}
