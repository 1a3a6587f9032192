# Seed 002 Fig. 6 on our model. Run by `coinfer-policy figures`, which sets:
#   data (series prefix), out (PNG), algos (space-separated), device, edge.
# Series columns: x exit partition bits latency_ms accuracy energy_j bytes meets
# plotted_accuracy n_layers (docs/figures.md).
bw(a) = sprintf('%s-bandwidth-%s.tsv', data, a)
dl(a) = sprintf('%s-deadline-%s.tsv', data, a)
label(a) = a eq 'edgent' ? 'Edgent (Alg. 1)' : a

set terminal pngcairo size 1400,1000 font ',10'
set output out
set multiplot layout 2,2 title sprintf("Li et al. (2018, Edgent) Fig. 6 on branchy-alexnet: device %s, edge %s (cost-model predictions)", device, edge)
set grid
set key top left

set title '(a) selection under different bandwidths (deadline 1000 ms)'
set xlabel 'bandwidth (kbps)'
set xrange [0:1550]
set ylabel 'partition point (layers on the device)'
set yrange [-1:22]
set ytics nomirror
set y2label 'exit point'
set y2range [0:4]
set y2tics 1
plot for [a in algos] bw(a) using 1:3 with linespoints pt 7 title label(a).': partition', \
     for [a in algos] bw(a) using 1:2 axes x1y2 with linespoints pt 9 lw 2 title label(a).': exit (right axis)'

set title '(b) predicted latency under different bandwidths'
unset y2label
unset y2tics
set ytics mirror
set ylabel 'latency (ms)'
set yrange [0:*]
plot for [a in algos] bw(a) using 1:5 with linespoints pt 7 title label(a), \
     1000 with lines dt 2 lc rgb 'red' title 'deadline'

set title '(c) selection under different latency requirements (500 kbps)'
set xlabel 'latency requirement (ms)'
set xrange [50:1050]
set ylabel 'partition point (layers on the device)'
set yrange [-1:22]
set ytics nomirror
set y2label 'exit point'
set y2range [0:4]
set y2tics 1
plot for [a in algos] dl(a) using 1:3 with linespoints pt 7 title label(a).': partition', \
     for [a in algos] dl(a) using 1:2 axes x1y2 with linespoints pt 9 lw 2 title label(a).': exit (right axis)'

set title '(d) predicted latency under different latency requirements'
unset y2label
unset y2tics
set ytics mirror
set ylabel 'latency (ms)'
set yrange [0:*]
plot for [a in algos] dl(a) using 1:5 with linespoints pt 7 title label(a), \
     x with lines dt 2 lc rgb 'red' title 'deadline'
unset multiplot
