package poetry_test

import (
	"fmt"

	"poetvae/poetry"
)

func ExampleParse() {
	p, err := poetry.Parse("床前明月光\n疑是地上霜\n举头望明月\n低头思故乡\n")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(p.NumLines(), string(p.Line(2)))
	fmt.Println(p)

	_, err = poetry.Parse("床前明月光，疑是地上霜。举头望月，低头思故乡。")
	fmt.Println(err)
	// Output:
	// 4 举头望明月
	// 床前明月光，疑是地上霜。举头望明月，低头思故乡。
	// line 3 has 4 characters (want 5): "举头望月"
}

func ExampleProsody_Analyze() {
	poem, err := poetry.Parse("白日依山尽，黄河入海流。欲穷千里目，更上一层楼。")
	if err != nil {
		fmt.Println(err)
		return
	}
	a := poetry.NewProsody().Analyze(poem)
	fmt.Println(a.Pattern, a.RhymeLines, a.Rhymed, a.LevelRhyme)
	fmt.Println(a.Tones[1])
	// Output:
	// 仄起首句不入韵 [2 4] true true
	// [平 平 仄 仄 平]
}

func ExampleProsody_Rhymes() {
	p := poetry.NewProsody()
	fmt.Println(p.Rhymes('光', '霜'), p.RhymeGroups('乡'))
	fmt.Println(p.Tone('看'), p.Tone('白'))
	// Output:
	// true [ang]
	// 中 平
}
