# SPDX-License-Identifier: Apache-2.0
# A package, so this directory's modules never shadow another test directory's.
