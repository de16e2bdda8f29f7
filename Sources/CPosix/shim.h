/* SPDX-License-Identifier: Apache-2.0 */
/* The POSIX and Linux headers the Swift layers call, as one C module. Swift's Glibc module
 * does not exist in Embedded Swift, and the target's own headers must decide every layout
 * (epoll_event is 12 bytes on x86_64 and 16 on aarch64), so every module imports this
 * instead of Glibc. Header-only: nothing here is linked but libc and libm. */
#ifndef LC_CPOSIX_H
#define LC_CPOSIX_H
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

/* errno is a macro and open(2) is variadic: neither reaches Swift without Glibc's overlay. */
static inline int lcposix_errno(void) { return errno; }
static inline int lcposix_open(const char *path, int flags, mode_t mode) { return open(path, flags, mode); }
#endif
