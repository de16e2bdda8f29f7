/* SPDX-License-Identifier: Apache-2.0 */
/*
 * term.c - see term.h.
 */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE /* TIOCGWINSZ */

#include "term.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

static struct termios saved;
/* 1 while the terminal is in raw mode: written by the main thread, and by handlers. */
static volatile sig_atomic_t raw_active = 0;
/* 1 from term_raw_begin() to term_restore(): a stopped and continued process goes raw again. */
static volatile sig_atomic_t raw_wanted = 0;
/* 1 once the handlers are installed (they stay for the life of the process). */
static int handlers_installed = 0;
static struct termios raw_settings;

int term_isatty(int fd) { return isatty(fd); }

/* Puts the saved settings back, keeping raw_wanted. */
static void restore_settings(void) {
    if (raw_active) {
        raw_active = 0;
        (void)tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved);
    }
}

void term_restore(void) {
    raw_wanted = 0;
    restore_settings();
}

/* Fatal signals: restore, then die of the same signal (SA_RESETHAND put the default back). */
static void on_fatal(int sig) {
    term_restore();
    raise(sig);
}

static void on_tstp(int sig);

/* Back from a stop: raw again, and ready for the next Ctrl-Z. */
static void on_cont(int sig) {
    struct sigaction sa;
    (void)sig;
    if (raw_wanted && !raw_active) {
        if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &raw_settings) == 0) raw_active = 1;
    }
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_tstp;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTSTP, &sa, NULL);
}

/* Ctrl-Z: give the shell its terminal back, then stop for real. */
static void on_tstp(int sig) {
    struct sigaction sa;
    sigset_t set;
    restore_settings();
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_DFL;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTSTP, &sa, NULL);
    sigemptyset(&set);
    sigaddset(&set, SIGTSTP);
    sigprocmask(SIG_UNBLOCK, &set, NULL);
    raise(sig);
}

static void atexit_restore(void) { term_restore(); }

static void install_handlers(void) {
    static const int fatal[] = {SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL, SIGQUIT};
    struct sigaction sa;
    size_t i;
    if (handlers_installed) return;
    handlers_installed = 1;
    atexit(atexit_restore);
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = on_fatal;
    sa.sa_flags = SA_RESETHAND | SA_NODEFER;
    for (i = 0; i < sizeof fatal / sizeof fatal[0]; i++) sigaction(fatal[i], &sa, NULL);
    sa.sa_flags = 0;
    sa.sa_handler = on_tstp;
    sigaction(SIGTSTP, &sa, NULL);
    sa.sa_handler = on_cont;
    sigaction(SIGCONT, &sa, NULL);
    /* tcsetattr from the background must not stop the process. */
    sa.sa_handler = SIG_IGN;
    sigaction(SIGTTOU, &sa, NULL);
}

int term_raw_begin(void) {
    struct termios t;
    if (!isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &saved) != 0) return -1;
    t = saved;
    t.c_lflag &= ~(tcflag_t)(ICANON | ECHO | ECHONL | IEXTEN);
    t.c_iflag &= ~(tcflag_t)(IXON | ICRNL | INLCR | IGNCR);
    t.c_cc[VMIN] = 1;
    t.c_cc[VTIME] = 0;
    /* ISIG stays: Ctrl-C, Ctrl-\ and Ctrl-Z keep working (and restore, see above). */
    raw_settings = t;
    install_handlers();
    if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &t) != 0) return -1;
    raw_active = 1;
    raw_wanted = 1;
    return 0;
}

int term_columns(int fd) {
    struct winsize ws;
    const char *env;
    if (ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
    /* A terminal that does not say its size (a serial console, some emulators): the
     * shell's COLUMNS, when exported. */
    env = getenv("COLUMNS");
    if (env != NULL) {
        char *end;
        long n = strtol(env, &end, 10);
        if (end != env && *end == '\0' && n >= 20 && n <= 1000) return (int)n;
    }
    return 80;
}
