# Seed 000 Fig. 5 for our model: (a) coded size by partition point, (b) accuracy
# loss by partition point and bits, for one exit. Input: coinfer-codec-tables --tsv.
#   gnuplot -e "in='models/branchy-alexnet.codec.tsv'; out='models/branchy-alexnet.codec.png'" tools/codec/plot-codec.gp
# (ex=1 or ex=2 for the other exits; the default is exit 3)
if (!exists("in")) in = 'codec.tsv'
if (!exists("out")) out = 'codec.png'
if (!exists("ex")) ex = 3
rows(b) = sprintf("< awk -F'\t' '$1 == %d && $5 == %d' '%s'", ex, b, in)
set terminal pngcairo size 1400,900 font ",10"
set output out
set datafile separator "\t"
set multiplot layout 2,1 title sprintf("coinfer codec on branchy-alexnet, exit %d: min-max quantization + Huffman (per point the smallest of huffman, huffman-zrun, pred-huffman), CIFAR-10 test set", ex)
set grid ytics
set xtics rotate by -45 nomirror
set key outside right top
set logscale y
set ylabel "bytes per image"
set title "(a) transmitted size by partition point"
plot rows(4) using 2:($6 / $7):xtic(3) with linespoints lw 2 title "fp32", \
     for [i=1:4] rows(word("4 8 12 16", i) + 0) using 2:6 with linespoints lc i + 1 \
       title sprintf("%s bits", word("4 8 12 16", i))
unset logscale y
set ylabel "accuracy loss (percentage points)"
set title "(b) accuracy loss against fp32 by partition point (layer type in the label)"
plot for [i=1:4] rows(word("4 8 12 16", i) + 0) \
       using 2:($10 * 100):xtic(stringcolumn(3) . " (" . stringcolumn(4) . ")") \
       with linespoints lc i + 1 title sprintf("%s bits", word("4 8 12 16", i))
unset multiplot
