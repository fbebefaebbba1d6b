# Prints the median of every custom metric (poems/s, ms/poem, ns/op) of the
# go test -bench lines it reads, one line per benchmark and unit.
/^Benchmark/ {
	for (i = 3; i < NF; i += 2) {
		key = sprintf("%-24s %s", $1, $(i + 1))
		vals[key] = vals[key] " " $i
	}
}
END {
	for (k in vals) {
		n = split(vals[k], a, " ")
		for (i = 1; i <= n; i++)
			for (j = i + 1; j <= n; j++)
				if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
		m = (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
		printf "  %s  %g (of %d runs)\n", k, m, n
	}
}
