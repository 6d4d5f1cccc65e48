/*
 * t.h - a tiny unit test harness. Each test file defines main() calling
 * T_RUN(fn) for each test function and returns T_DONE().
 */
#ifndef YUBIN_T_H
#define YUBIN_T_H

#include <stdio.h>
#include <string.h>

static int t_failures, t_checks, t_tests, t_failed_tests;
static const char *t_current;

#define CHECK(cond) do { t_checks++; if (!(cond)) { t_failures++; \
    fprintf(stderr, "%s:%d: %s: CHECK failed: %s\n", __FILE__, __LINE__, t_current, #cond); } } while (0)
#define CHECK_STR(a, b) do { const char *_a = (a), *_b = (b); t_checks++; \
    if (!_a || !_b || strcmp(_a, _b) != 0) { t_failures++; \
    fprintf(stderr, "%s:%d: %s: expected \"%s\", got \"%s\"\n", __FILE__, __LINE__, t_current, \
            _b ? _b : "(null)", _a ? _a : "(null)"); } } while (0)
#define CHECK_INT(a, b) do { long long _a = (long long)(a), _b = (long long)(b); t_checks++; \
    if (_a != _b) { t_failures++; fprintf(stderr, "%s:%d: %s: expected %lld, got %lld (%s)\n", \
    __FILE__, __LINE__, t_current, _b, _a, #a); } } while (0)

#define T_RUN(fn) do { int _before = t_failures; t_current = #fn; t_tests++; fn(); \
    if (t_failures != _before) t_failed_tests++; } while (0)
#define T_DONE() (printf("%s: %d passed, %d failed\n", __FILE__, t_tests - t_failed_tests, t_failed_tests), \
    t_failures ? 1 : 0)

#endif
