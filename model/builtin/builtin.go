// Package builtin holds the model that ships inside poetvae, so that a
// fresh install writes poems before its user has trained anything.
//
// The file is made by `make model` from the shared Tang and Song corpora
// (docs/RESULTS.md gives the recipe, its training time and its figures):
// weights in half precision, and the keyword figures of generate --theme
// in place of the training poems, so that it holds no poem text.
package builtin

// Name stands for the file in messages.
const Name = "the built-in model"

// About says in a line what the model is, for the note that names it.
const About = "Tang and Song quatrains and the halves of their 律诗, traditional characters"
