/* SPDX-License-Identifier: Apache-2.0 */
/*
 * term.h - the controlling terminal: raw keyboard input for push-to-talk, restored on every
 * way out (normal exit, SIGINT/SIGTERM/SIGHUP through the caller's loop, fatal signals,
 * job-control stops), and the terminal's width for the status line.
 */
#ifndef LAYERCODE_PLAYER_TERM_H
#define LAYERCODE_PLAYER_TERM_H

/** Non-zero if fd is a terminal. */
int term_isatty(int fd);

/**
 * Puts the terminal on stdin in raw mode: keys arrive one by one, unechoed; Ctrl-C and
 * Ctrl-Z still raise their signals. Saves the previous settings and arranges for them to
 * come back at exit(), on fatal signals (the signal is then re-raised), across Ctrl-Z/fg,
 * and on term_restore(). Returns 0, or -1 if stdin is not a terminal or cannot be set.
 */
int term_raw_begin(void);

/** Puts the saved settings back (idempotent; async-signal-safe). */
void term_restore(void);

/** The width in columns of the terminal on fd (TIOCGWINSZ), else $COLUMNS, else 80. */
int term_columns(int fd);

#endif /* LAYERCODE_PLAYER_TERM_H */
