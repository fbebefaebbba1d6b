package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"poetvae/model"
)

// deviceFlag is --device, for what runs there.
func deviceFlag(what string) cli.Flag {
	return &cli.StringFlag{Name: "device", Value: "cpu",
		Usage: what + ": cpu, cuda (the first GPU) or cuda:N; a GPU needs a poetvae built with make cuda"}
}

// device reads --device: a usage error for a name that is no device, and a
// plain one when this poetvae was built without CUDA.
func device(c *cli.Context) (string, error) {
	name := c.String("device")
	gpu, err := model.ParseDevice(name)
	if err != nil {
		return "", usageError("--device: %v", err)
	}
	if gpu >= 0 && !model.HasCUDA {
		return "", fmt.Errorf("--device %s: %w", name, model.ErrNoCUDA)
	}
	return name, nil
}
