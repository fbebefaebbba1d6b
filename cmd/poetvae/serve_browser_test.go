package main

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"poetvae/poetry"
)

// The page in a real browser: headless Chromium, driven through the
// DevTools protocol. The test skips where no Chromium is installed, except
// in CI (CI=true), where it must run.
//
// With POETVAE_SCREENSHOTS=DIR it also saves a screenshot of each view in
// DIR (make screenshots writes those of docs/REFERENCE.md). POETVAE_SERVE_ARGS
// gives other serve flags, such as a model and a corpus for the map, in
// place of the test's small model and the sample corpus.

// chromium returns the path of a Chromium browser, or "".
func chromium() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	return ""
}

// browserContext starts a headless Chromium with an empty profile and
// returns a context for chromedp, and the console messages the page wrote.
func browserContext(t *testing.T) (context.Context, func() []chromedp.ConsoleMessage) {
	t.Helper()
	path := chromium()
	if path == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("no Chromium installed, and CI must run the browser test: apt-get install -y chromium")
		}
		t.Skip("no Chromium installed (apt-get install -y chromium): the page is not tested in a browser")
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1360, 1000),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	// Start the browser, then listen to the console.
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("starting %s: %v", path, err)
	}
	var mu sync.Mutex
	var messages []chromedp.ConsoleMessage
	go func() {
		for m, err := range chromedp.Console(ctx) {
			if err != nil {
				return
			}
			mu.Lock()
			messages = append(messages, m)
			mu.Unlock()
		}
	}()
	return ctx, func() []chromedp.ConsoleMessage {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(messages)
	}
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluating %s: %v", expr, err)
	}
	return v
}

// waitFor waits until a JavaScript expression is true in the page.
func waitFor(t *testing.T, ctx context.Context, what, expr string) {
	t.Helper()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(30*time.Second))); err != nil {
		msg, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("#error").textContent`))
		t.Fatalf("waiting for %s (%s): %v; the page's error box says %q", what, expr, err, msg)
	}
}

func do(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(tctx, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// screenshot saves the browser's viewport as DIR/serve-NAME.png when
// POETVAE_SCREENSHOTS names DIR.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	dir := os.Getenv("POETVAE_SCREENSHOTS")
	if dir == "" {
		return
	}
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot of %s: %v", name, err)
	}
	path := filepath.Join(dir, "serve-"+name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s", path)
}

func TestServeBrowser(t *testing.T) {
	ctx, console := browserContext(t)
	args := []string{"--corpus", sampleCorpus}
	if extra := os.Getenv("POETVAE_SERVE_ARGS"); extra != "" {
		args = strings.Fields(extra)
	}
	s, _ := newTestServer(t, args...)
	ts := httptest.NewServer(s.handler())
	t.Cleanup(ts.Close)

	// Write: three poems, each well formed, with its tone marks and its
	// rhymes marked; the form shows generate's defaults.
	do(t, ctx, "opening the page", chromedp.Navigate(ts.URL+"/#write"), chromedp.WaitVisible(chromedp.ID("write-submit")))
	waitFor(t, ctx, "the defaults", `document.querySelector('#write-form select[name="tones"]').value === `+
		strconv.Quote(fieldDefaults(s.endpoints()["/api/generate"])["tones"].(string)))
	do(t, ctx, "writing", chromedp.Click(chromedp.ID("write-submit")))
	waitFor(t, ctx, "three poems", `document.querySelectorAll("#write-results .poem-card").length === 3`)
	poems := eval[[]string](t, ctx, `Array.from(document.querySelectorAll("#write-results .poem-card")).map(c => c.dataset.poem)`)
	for _, text := range poems {
		p, err := poetry.Parse(text)
		if err != nil || p.NumLines() != s.m.Config.Lines {
			t.Errorf("Write shows %q: %v", text, err)
		}
	}
	if n := eval[int](t, ctx, `document.querySelectorAll("#write-results .poem-card .tone").length`); n != 3*5*s.m.Config.Lines {
		t.Errorf("Write shows %d tone marks for three poems, want %d", n, 3*5*s.m.Config.Lines)
	}
	// The rhyming line ends marked are those the server's prosody finds.
	marks := eval[[]int](t, ctx, `Array.from(document.querySelectorAll("#write-results .poem-card")).map(c => c.querySelectorAll(".char.rhyme").length)`)
	for i, text := range poems {
		if p, err := poetry.Parse(text); err == nil && i < len(marks) {
			if want := len(s.prosody.Analyze(p).RhymeLines); marks[i] != want {
				t.Errorf("Write marks %d rhyming line ends in %s, want %d", marks[i], text, want)
			}
		}
	}
	screenshot(t, ctx, "write")

	// Walk: two poems typed, the slider moved by the keyboard; the poem
	// shown is the path's at each point, and it changes along the way.
	do(t, ctx, "opening Walk", chromedp.Navigate(ts.URL+"/#walk"), chromedp.WaitVisible(chromedp.ID("walk-submit")),
		chromedp.SendKeys(chromedp.ID("walk-a"), jingYeSi), chromedp.SendKeys(chromedp.ID("walk-b"), dengGuanQ),
		chromedp.Click(chromedp.ID("walk-submit")))
	waitFor(t, ctx, "the walk", `!document.querySelector("#walk-player").hidden && poetvae.walk.path.length === 9`)
	shown := func() string {
		return eval[string](t, ctx, `document.querySelector("#walk-current .poem-card").dataset.poem`)
	}
	first := shown()
	seen := map[string]bool{first: true}
	do(t, ctx, "focusing the slider", chromedp.Focus(chromedp.ID("walk-slider")))
	for i := 1; i <= 8; i++ {
		do(t, ctx, "moving the slider", chromedp.KeyEvent(kb.ArrowRight))
		want := eval[string](t, ctx, fmt.Sprintf("poetvae.walk.path[%d].poem", i))
		if got := shown(); got != want {
			t.Errorf("slider at %d shows %s, the path's poem there is %s", i, got, want)
		}
		seen[shown()] = true
	}
	if len(seen) < 2 {
		t.Errorf("the poem shown never changes along the walk: %s", first)
	}
	if v := eval[string](t, ctx, `document.querySelector("#walk-slider").value`); v != "8" {
		t.Errorf("after eight steps the slider is at %s, want 8", v)
	}
	do(t, ctx, "going back to the start", chromedp.KeyEvent(kb.Home))
	if got := shown(); got != first {
		t.Errorf("back at the start the page shows %s, want %s", got, first)
	}
	if n := eval[int](t, ctx, `document.querySelectorAll("#walk-ends p").length`); n != 2 {
		t.Errorf("Walk reports %d ends, want 2", n)
	}
	do(t, ctx, "moving to the middle", chromedp.KeyEvent(kb.ArrowRight), chromedp.KeyEvent(kb.ArrowRight),
		chromedp.KeyEvent(kb.ArrowRight), chromedp.KeyEvent(kb.ArrowRight))
	screenshot(t, ctx, "walk")

	// Map: hover a point and read its poem; click it, reconstruct it, and
	// take it to Neighbours, where it is its own nearest neighbour.
	do(t, ctx, "opening the map", chromedp.Navigate(ts.URL+"/#map"), chromedp.WaitVisible(chromedp.ID("map-canvas")))
	waitFor(t, ctx, "the map", `poetvae.mapView.data !== null && poetvae.mapView.data.count > 0`)
	count := eval[int](t, ctx, `poetvae.mapView.data.count`)
	if count != s.atlas.size() {
		t.Errorf("the page's map has %d poems, the server's %d", count, s.atlas.size())
	}
	// The point farthest from the others (of up to 300 tried), so that
	// the pointer is over it alone.
	target := eval[int](t, ctx, `(() => {
		const m = poetvae.mapView, n = m.data.count, step = Math.max(1, Math.floor(n / 300));
		let best = 0, bestD = -1;
		for (let i = 0; i < n; i += step) {
			const p = m.toScreen(i);
			let d = Infinity;
			for (let j = 0; j < n; j++) if (j !== i) {
				const q = m.toScreen(j);
				d = Math.min(d, (p.x - q.x) ** 2 + (p.y - q.y) ** 2);
			}
			if (d > bestD) { bestD = d; best = i; }
		}
		return best;
	})()`)
	xy := eval[[]float64](t, ctx, fmt.Sprintf(`(() => {
		const c = document.querySelector("#map-canvas");
		c.scrollIntoView({block: "end"});
		const p = poetvae.mapView.toScreen(%d), r = c.getBoundingClientRect();
		return [r.left + p.x, r.top + p.y];
	})()`, target))
	// Colour by dynasty where the map can.
	eval[bool](t, ctx, `(() => {
		const i = poetvae.mapView.data.colorings.findIndex(c => c.name === "dynasty");
		if (i < 0) return false;
		const sel = document.querySelector("#map-color");
		sel.value = String(i);
		sel.dispatchEvent(new Event("change"));
		return true;
	})()`)
	do(t, ctx, "hovering a point", chromedp.MouseEvent(input.DispatchMouseEventTypeMouseMoved, xy[0]+2, xy[1]+1))
	waitFor(t, ctx, "the tooltip", `!document.querySelector("#map-tooltip").hidden`)
	tip := eval[string](t, ctx, `document.querySelector("#map-tooltip .poem-text").textContent`)
	wantPoem := s.atlas.poems[target].String()
	if tip != wantPoem {
		t.Errorf("hovering point %d shows %q, want its poem %q", target, tip, wantPoem)
	}
	screenshot(t, ctx, "map")
	do(t, ctx, "clicking the point", chromedp.MouseEvent(input.DispatchMouseEventTypeMousePressed, xy[0]+2, xy[1]+1, chromedp.ButtonLeft),
		chromedp.MouseEvent(input.DispatchMouseEventTypeMouseReleased, xy[0]+2, xy[1]+1, chromedp.ButtonLeft))
	waitFor(t, ctx, "the selection", `document.querySelector("#map-selected .poem-text") !== null`)
	if got := eval[string](t, ctx, `document.querySelector("#map-selected .poem-text").textContent`); got != wantPoem {
		t.Errorf("clicking point %d selects %q, want %q", target, got, wantPoem)
	}
	do(t, ctx, "reconstructing", chromedp.Click(chromedp.ID("map-reconstruct")))
	waitFor(t, ctx, "the reconstruction", `document.querySelector("#map-selected .recon .poem-card") !== null`)
	if got := eval[string](t, ctx, `document.querySelector("#map-selected .recon p").textContent`); !strings.Contains(got, "% of the characters recovered") {
		t.Errorf("the reconstruction says %q", got)
	}
	// The search box finds the poems that hold a character.
	do(t, ctx, "searching", chromedp.SendKeys(chromedp.ID("map-search"), "月"))
	wantFound := 0
	for _, p := range s.atlas.poems {
		if strings.ContainsRune(p.String(), '月') {
			wantFound++
		}
	}
	if got := eval[string](t, ctx, `document.querySelector("#map-found").textContent`); !strings.HasPrefix(got, fmt.Sprintf("%d of %d poems hold 月", wantFound, count)) {
		t.Errorf("searching 月 says %q, want %d of %d", got, wantFound, count)
	}
	do(t, ctx, "taking the poem to Neighbours", chromedp.Click(chromedp.CSS(`#map-selected .actions button:nth-child(3)`)))
	waitFor(t, ctx, "the neighbours", `document.querySelectorAll("#neighbors-results li").length === 10`)
	if got := eval[string](t, ctx, `document.querySelector("#neighbors-results li .poem-text").textContent`); got != wantPoem {
		t.Errorf("the nearest neighbour of %s is %s, want itself", wantPoem, got)
	}
	screenshot(t, ctx, "neighbors")

	// Explore: start at the centre of the map; moving a slider along a
	// principal direction decodes the code there, and some direction
	// changes the poem.
	do(t, ctx, "opening Explore", chromedp.Navigate(ts.URL+"/#explore"), chromedp.WaitVisible(chromedp.ID("explore-submit")))
	waitFor(t, ctx, "the sliders", `document.querySelectorAll("#explore-sliders input[type=range]").length > 0`)
	do(t, ctx, "starting", chromedp.Click(chromedp.ID("explore-submit")))
	waitFor(t, ctx, "the first poem", `document.querySelector("#explore-current .poem-card") !== null`)
	centre := eval[string](t, ctx, `document.querySelector("#explore-current .poem-card").dataset.poem`)
	changed := false
	for k := 0; k < 3 && !changed; k++ {
		sel := chromedp.CSS(fmt.Sprintf(`#explore-sliders input[data-axis="%d"]`, k))
		do(t, ctx, "moving a slider", chromedp.Focus(sel), chromedp.KeyEvent(kb.End))
		// The page decodes after a short pause; wait for the answer to
		// the last move.
		waitFor(t, ctx, "the decoded poem", fmt.Sprintf(`Number(document.querySelector('#explore-sliders input[data-axis="%d"]').value) === 3`, k))
		time.Sleep(300 * time.Millisecond)
		waitFor(t, ctx, "the poem of the move", `document.querySelector("#explore-current .poem-card") !== null`)
		changed = eval[string](t, ctx, `document.querySelector("#explore-current .poem-card").dataset.poem`) != centre
	}
	if !changed {
		t.Errorf("three standard deviations along each of the first three directions leave the poem at %s", centre)
	}
	screenshot(t, ctx, "explore")

	for _, m := range console() {
		if m.Type == chromedp.ConsoleException || m.Type == chromedp.ConsoleError {
			t.Errorf("the page's console: %s", m)
		}
	}
}
