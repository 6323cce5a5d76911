/* test_check_numbers.c - numbers used from the prompt and from nowhere. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "check.h"

static const char JANET[] = "Janet\xe2\x80\x99s ducks lay 16 eggs per day. She eats three for "
                            "breakfast every morning and bakes muffins for her friends every day "
                            "with four. She sells the remainder at the farmers' market daily for "
                            "$2 per fresh duck egg. How much in dollars does she make every day?";

static void run(const char *prompt, const char *resp, struct check_result *r)
{
    check_result_init(r);
    assert_int_equal(check_numbers(prompt, strlen(prompt), resp, strlen(resp), r), 0);
}

static void test_fixture_solutions(void **state)
{
    (void)state;
    struct check_result r;
    /* The correct solution: all four numbers used, nothing from nowhere. */
    run(JANET,
        "Janet eats 3 duck eggs for breakfast and bakes 4 into muffins so 3 + 4 = <<3+4=7>>7 "
        "duck eggs are used\nEach day Janet's ducks lay 16 eggs and she uses 7, 16 - 7 = "
        "<<16-7=9>>9 duck eggs are for sale\nShe sells her eggs for $2 per egg and has 9 "
        "available for sale so 2 * 9 = $<<2*9=18>>18 per day\nA: 18",
        &r);
    assert_true(r.v[CHECK_NUMBERS_USED_SHARE] == 1.0);
    assert_true(r.v[CHECK_NUMBERS_UNEXPLAINED] == 0);
    assert_int_equal(r.nf, 0);
    /* A wrong one: skips "four" and brings in a 13 of its own before the
     * equation that makes it, and an 11. */
    const char *s = "She has 13 eggs left after 16 - 3 = <<16-3=13>>13\nShe sells 11 at $2\nA: 26";
    run(JANET, s, &r);
    assert_true(r.v[CHECK_NUMBERS_USED_SHARE] == 0.75);
    assert_true(r.v[CHECK_NUMBERS_UNEXPLAINED] == 3);
    assert_int_equal(r.nf, 3);
    assert_int_equal(r.f[0].start, 8);
    assert_memory_equal(s + r.f[1].start, "11", r.f[1].len);
    assert_memory_equal(s + r.f[2].start, "26", r.f[2].len);
    assert_string_equal(r.f[0].checker, "numbers");
}

static void test_sources(void **state)
{
    (void)state;
    struct check_result r;
    /* Percent of the prompt as a fraction, common constants, 1,200 with a
     * comma; numbers inside annotations are uses, never unexplained. */
    run("A coat costs $1,200 with 25% off.",
        "25% is 0.25 so 1200 * 0.25 = <<1200*0.25=300>>300 "
        "off, over 12 months and 60 minutes.",
        &r);
    assert_true(r.v[CHECK_NUMBERS_USED_SHARE] == 1.0);
    assert_true(r.v[CHECK_NUMBERS_UNEXPLAINED] == 0);
    /* No numbers in the prompt: nothing to use. */
    run("Say hi.", "Hi 5", &r);
    assert_true(r.v[CHECK_NUMBERS_USED_SHARE] == 1.0);
    assert_true(r.v[CHECK_NUMBERS_UNEXPLAINED] == 1);
    check_result_init(&r);
    assert_int_equal(check_numbers(NULL, 0, NULL, 0, &r), 0);
    assert_int_equal(check_numbers(NULL, 3, "x", 1, &r), -EINVAL);
    assert_int_equal(check_numbers("x", 1, NULL, 3, &r), -EINVAL);
    assert_int_equal(check_numbers("x", 1, "x", 1, NULL), -EINVAL);
}

/* Whole numbers below 1024 are looked up in a table made from the prompt
 * (check_prompt.small), others compared one by one: both must give what
 * the 1e-6 comparison gives, at its edges too. */
static void test_near_whole_numbers(void **state)
{
    (void)state;
    struct check_result r;
    /* 1000 is the same as two prompt numbers that are not the same as each
     * other (both used); 7 as 7.0000001; 2.5 is 250 percent; 5 is new. */
    run("Weights: 1000.0009 kg, 999.9991 kg, 7.0000001 m; 250 of them cost 3.",
        "1000 and 7 and 2.5 and 3 and 5", &r);
    assert_true(r.v[CHECK_NUMBERS_USED_SHARE] == 0.8);
    assert_true(r.v[CHECK_NUMBERS_UNEXPLAINED] == 1);
    assert_int_equal(r.nf, 1);
    assert_int_equal(r.f[0].start, 29);
    /* 4 is 400 percent; 1023 is not 1023.5, nor is 1024 (past the table). */
    run("It costs 400 and 1023.5.", "4 then 1023 and 1024", &r);
    assert_true(r.v[CHECK_NUMBERS_USED_SHARE] == 0.0);
    assert_true(r.v[CHECK_NUMBERS_UNEXPLAINED] == 2);
    /* 512 is within 1e-6 of 512.0005 but not of 512.0006. */
    run("It is 512.0005 long.", "So 512.", &r);
    assert_true(r.v[CHECK_NUMBERS_USED_SHARE] == 1.0);
    assert_true(r.v[CHECK_NUMBERS_UNEXPLAINED] == 0);
    run("It is 512.0006 long.", "So 512 and 5.120006.", &r);
    assert_true(r.v[CHECK_NUMBERS_USED_SHARE] == 0.0);
    assert_true(r.v[CHECK_NUMBERS_UNEXPLAINED] == 1);
    /* A prompt read once: 12 used, 50 from nowhere, 600 its result. */
    struct check_prompt p;
    const char *q = "Buy 12 pens at 0.5 each and 1000000 more.";
    assert_int_equal(check_prompt_init(&p, q, strlen(q)), 0);
    check_result_init(&r);
    assert_int_equal(check_numbers_prepared(&p, "12 * 50 = 600", 13, &r), 0);
    assert_true(r.v[CHECK_NUMBERS_USED_SHARE] * 3 == 1.0);
    assert_true(r.v[CHECK_NUMBERS_UNEXPLAINED] == 1);
    assert_int_equal(r.f[0].start, 5);
}

/* Numbers inside annotations are not checked; the numbers scan takes an
 * annotation's end from the equations scan where it found one ("<<<" and
 * "<<" that never close, nested and stray ones included). */
static void test_annotation_ends(void **state)
{
    (void)state;
    struct check_result r;
    const char *s = "<<<2+3=5>>5 and 7 and <<2*3=6 then 6 >> 9 = 3 * 3 = <<3*3=9>>9, 4 5";
    run("He has 2 and 3.", s, &r);
    assert_true(r.v[CHECK_NUMBERS_UNEXPLAINED] == 4);
    assert_int_equal(r.nf, 4);
    static const size_t at[] = {10, 40, 64, 66};
    for (size_t k = 0; k < 4; k++)
        assert_int_equal(r.f[k].start, at[k]);
    s = "2 + 3 = <<2+3=5>>5 <<5 <<5*2=10>>10 11 << 12 >> 13";
    run("He has 2 and 3.", s, &r);
    assert_true(r.v[CHECK_NUMBERS_UNEXPLAINED] == 2);
    assert_int_equal(r.f[0].start, 36);
    assert_int_equal(r.f[1].start, 48);
    run("X 4.", "4 * 2 = 8 = <<4*2=8>>8 << 8 >>>> 8", &r);
    assert_true(r.v[CHECK_NUMBERS_UNEXPLAINED] == 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixture_solutions),
        cmocka_unit_test(test_sources),
        cmocka_unit_test(test_near_whole_numbers),
        cmocka_unit_test(test_annotation_ends),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
