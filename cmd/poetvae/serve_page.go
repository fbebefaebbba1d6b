package main

import (
	"bytes"
	"embed"
	"html/template"
	"io/fs"
	"net/http"
	"path/filepath"

	"poetvae/corpus"
	"strconv"
	"time"
)

// The page of serve: one HTML page from a template, and its script and
// style, embedded in the binary. The script talks to the server only
// through the JSON API.

//go:embed web
var webFiles embed.FS

type pageAssets struct {
	index  []byte
	static fs.FS
}

// pageData is what the page's template shows before the script runs.
type pageData struct {
	Model     string
	Lines     int
	Latent    int
	Chars     int
	MapSource string
	MapSize   int
	Theme     bool
	Judge     string
}

func (s *server) preparePage() error {
	tmpl, err := template.ParseFS(webFiles, "web/index.html")
	if err != nil {
		return err
	}
	data := pageData{Model: filepath.Base(s.modelPath), Lines: s.m.Config.Lines, Latent: s.m.Config.Latent,
		Chars: s.m.Vocab.Size() - corpus.NumSpecial, MapSize: s.atlas.size(), Theme: s.m.Keywords != nil, Judge: s.judge}
	if s.atlas != nil {
		data.MapSource = s.atlas.source
	}
	var buf bytes.Buffer
	if err := tmpl.Execute(&buf, data); err != nil {
		return err
	}
	static, err := fs.Sub(webFiles, "web/static")
	if err != nil {
		return err
	}
	s.page = &pageAssets{index: buf.Bytes(), static: static}
	return nil
}

func (s *server) routePage(mux *http.ServeMux) {
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Content-Length", strconv.Itoa(len(s.page.index)))
		h.Set("Cache-Control", "no-cache")
		w.Write(s.page.index)
	})
	// The static files by name, and nothing else: no listing, no redirects.
	mux.HandleFunc("GET /static/{name}", func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		data, err := fs.ReadFile(s.page.static, name)
		if err != nil || !fs.ValidPath(name) {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Cache-Control", "no-cache")
		http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(data))
	})
}
