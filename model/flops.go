package model

// TrainFLOPs is the floating-point work of the matrix products of one
// training step on B poems: the floor under any engine's time, since every
// engine must do these products (element-wise work is a few percent more).
// A product of m×k by k×n costs 2mkn; the backward pass costs two products
// (the input's and the weight's gradients) for each forward one.
func TrainFLOPs(c Config, B int) float64 {
	T, Td := float64(c.EncSteps()), float64(c.DecSteps())
	b := float64(B)
	E, He, Hd, Z, V := float64(c.Embed), float64(c.EncHidden), float64(c.DecHidden), float64(c.Latent), float64(c.Vocab)
	mnk := func(m, n, k float64) float64 { return 2 * m * n * k }
	var fwd float64
	if !c.LM {
		fwd += float64(c.Highway) * 2 * mnk(T*b, E, E) // highway: transform and gate
		fwd += 2 * mnk(T*b, 4*He, E)                   // encoder input products, both directions
		fwd += 2 * mnk((T-1)*b, 4*He, He)              // encoder recurrent products
		fwd += 2 * mnk(b, Z, 2*He)                     // mu and log σ²
		fwd += mnk(b, 4*Hd, Z) + mnk(b, Hd, Z)         // z into every decoder step, initial state
	}
	fwd += mnk(Td*b, 4*Hd, E)  // decoder input products
	fwd += mnk(Td*b, 4*Hd, Hd) // decoder recurrent products
	fwd += mnk(Td*b, V, Hd)    // output layer
	return 3 * fwd
}
