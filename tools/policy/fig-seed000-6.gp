# Seed 000 Fig. 6 on our model. Run by `coinfer-policy figures`, which sets:
#   data (series prefix), out (PNG), algos (space-separated), device, edge,
#   featured1 and featured2 (the algorithms whose choices panels (c) and (d) show).
# Series columns: x exit partition bits latency_ms accuracy energy_j bytes meets
# plotted_accuracy n_layers (docs/figures.md).
file(a) = sprintf('%s-bandwidth-%s.tsv', data, a)
label(a) = a eq 'sacd' ? 'SAC-d' : a eq 'dqn' ? 'DQN' : a eq 'on-device' ? 'On device (no early exit)' : \
	a eq 'edgent' ? 'Edgent (Alg. 1)' : a eq 'oracle' ? 'Oracle' : a

set terminal pngcairo size 1400,1000 font ',10'
set output out
set multiplot layout 2,2 title sprintf("Niu et al. (2022) Fig. 6 on branchy-alexnet: device %s, edge %s (cost-model predictions)", device, edge)
set grid
set xrange [0:10]
set xlabel 'uplink bandwidth (MB/s)'
set key top right

set title '(a) latency'
set ylabel 'latency (ms, log scale)'
set logscale y
plot for [a in algos] file(a) using 1:5 with linespoints pointsize 0.8 title label(a)
unset logscale y

set title '(b) accuracy'
set ylabel 'top-1 accuracy (%)'
set key center right
plot for [a in algos] file(a) using 1:($6 * 100) with linespoints pointsize 0.8 title label(a)

set key top left
set ylabel 'partition (layers on the device), bits'
set yrange [0:22]
set ytics nomirror
set y2label 'exit'
set y2range [0:4]
set y2tics 1
do for [f in featured1.' '.featured2] {
	set title sprintf('(%s) strategy of %s%s', f eq featured1 ? 'c' : 'd', label(f), \
		f eq 'sacd' || f eq 'dqn' ? '' : ' (no SAC-d/DQN policy given)')
	plot file(f) using 1:3 with linespoints pt 7 title 'partition', \
	     '' using 1:4 with linespoints pt 5 title 'bits (0: nothing sent)', \
	     '' using 1:2 axes x1y2 with linespoints pt 9 lw 2 title 'exit (right axis)'
}
unset multiplot
