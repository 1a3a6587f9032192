# Seed 002 Fig. 7 on our model. Run by `coinfer-policy figures`, which sets:
#   data (series prefix), out (PNG), algos (space-separated), device, edge.
# Series columns: x exit partition bits latency_ms accuracy energy_j bytes meets
# plotted_accuracy n_layers (docs/figures.md). As in the paper, a missed deadline
# plots as a negative accuracy.
file(a) = sprintf('%s-deadline-%s.tsv', data, a)
label(a) = a eq 'edgent' ? 'Edgent' : a eq 'device-only' ? 'Device only (no early exit)' : \
	a eq 'edge-only' ? 'Edge only' : a eq 'partition-only' ? 'Partition only' : \
	a eq 'right-sizing-only' ? 'Right-sizing only (on the device)' : a
n = words(algos)
w = 80.0 / n

set terminal pngcairo size 1300,650 font ',10'
set output out
set title sprintf("Li et al. (2018, Edgent) Fig. 7 on branchy-alexnet at 400 kbps: device %s, edge %s (cost-model predictions)", device, edge)
set grid ytics
set xlabel 'latency requirement (ms)'
set xrange [40:1060]
set xtics 100, 100, 1000
set ylabel 'accuracy (%); negative: deadline missed'
set yrange [-100:100]
set key outside top center horizontal maxrows 1
set boxwidth w * 0.9 absolute
set style fill solid 0.8 border -1
plot for [i = 1:n] file(word(algos, i)) using ($1 + (i - (n + 1) / 2.0) * w):($10 * 100) \
	with boxes title label(word(algos, i)), \
     0 with lines lc rgb 'black' notitle
