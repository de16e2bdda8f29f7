/* SPDX-License-Identifier: Apache-2.0 */
/*
 * devices.h - the player's --list-devices.
 */
#ifndef LAYERCODE_PLAYER_DEVICES_H
#define LAYERCODE_PLAYER_DEVICES_H

/**
 * Prints ALSA's PCMs (name, in/out, description; with json one "device" event per line)
 * on stdout, "default" first: listed by ALSA or not, it is the device the player opens
 * when given none. Returns the exit status: 0, or 1 (with a message on stderr) when the
 * library cannot list them.
 */
int list_devices(int json);

#endif /* LAYERCODE_PLAYER_DEVICES_H */
