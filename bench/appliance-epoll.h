/* The peer of the appliance's io_uring loop in coinfer-bench-appliance: a plain
 * epoll server of the same protocol, run as its own process (the bench
 * re-executes itself with --serve-epoll) so that its CPU time is measured alone.
 *
 * One edge-triggered epoll loop per worker thread, each with its own
 * SO_REUSEPORT listening socket; recv() into a per-connection buffer, every whole
 * message parsed in place (cw_parse_header / cw_decode), messages larger than
 * that buffer reassembled in a bounded pool; INFERs go to the appliance's own
 * scheduler and tail (appliance/scheduler.h, tail.h; null model: frames
 * validated by the same code, nothing computed), so only the I/O loop differs;
 * replies are queued per connection and sent with one send() per wakeup
 * (recv/send rather than read/write: same calls without the VFS file-position lock).
 * Nothing is allocated per request or per connection after start.
 *
 * Prints the appliance's start-up line ({"event": "listening", "port": N, ...})
 * and, at SIGINT/SIGTERM, a "stopped" line with the same counter names. */
#ifndef COINFER_BENCH_APPLIANCE_EPOLL_H
#define COINFER_BENCH_APPLIANCE_EPOLL_H

/* argv[0] is "--serve-epoll"; options: --port --workers --max-conns
 * --max-inflight --max-requests --max-batch --max-delay-us --null-model
 * --calibrate-runs --model. Returns the exit status. */
int ab_serve_epoll(int argc, char **argv);

#endif
