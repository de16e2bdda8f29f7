# SPDX-License-Identifier: Apache-2.0
# A package, so this directory's conftest is imported as cross.conftest and never shadows
# another test directory's `conftest` module when several are collected together.
