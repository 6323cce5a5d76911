/* The rules of sub-question review without a database: early stop,
 * roll-up of steps, rubric veto, unsure, pair decisions. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "rollup.h"

/* Steps that all sink, with the given states. */
static void steps(struct rollup_step *s, const enum rollup_state *st, size_t n)
{
    for (size_t i = 0; i < n; i++)
        s[i] = (struct rollup_step){.state = st[i], .sinks = true};
}

/* The plan of steps s[0..n) as a string: O open, K keep, C close. */
static const char *plan(enum rollup_order order, const struct rollup_step *s, size_t n)
{
    static char out[16];
    enum rollup_action act[16];
    rollup_plan(order, s, n, act);
    for (size_t i = 0; i < n; i++)
        out[i] = act[i] == RA_OPEN ? 'O' : act[i] == RA_CLOSE ? 'C' : 'K';
    out[n] = '\0';
    return out;
}

#define SEQ ROLLUP_SEQUENTIAL
#define PAR ROLLUP_PARALLEL

static void sequential_opens_one_at_a_time(void **state)
{
    (void)state;
    struct rollup_step s[4];
    steps(s, (enum rollup_state[]){RS_PENDING, RS_PENDING, RS_PENDING, RS_PENDING}, 4);
    assert_string_equal(plan(SEQ, s, 4), "OKKK");
    s[0].state = RS_OPEN; /* step 1 open: nothing more until it is answered */
    assert_string_equal(plan(SEQ, s, 4), "KKKK");
    s[0].state = RS_YES; /* yes (by a human or the layer): step 2 is next */
    assert_string_equal(plan(SEQ, s, 4), "KOKK");
    s[1].state = s[2].state = RS_YES; /* layer answers further on are skipped */
    assert_string_equal(plan(SEQ, s, 4), "KKKO");
    assert_int_equal(rollup_side(s, 4), RV_OPEN);
}

static void no_ends_the_side(void **state)
{
    (void)state;
    struct rollup_step s[4];
    steps(s, (enum rollup_state[]){RS_YES, RS_NO, RS_PENDING, RS_PENDING}, 4);
    assert_string_equal(plan(SEQ, s, 4), "KKCC");
    assert_int_equal(rollup_side(s, 4), RV_FAIL);
    /* Parallel: all open at once, the rest closed on the first no, the
     * answers already given kept. */
    steps(s, (enum rollup_state[]){RS_PENDING, RS_PENDING, RS_PENDING, RS_PENDING}, 4);
    assert_string_equal(plan(PAR, s, 4), "OOOO");
    steps(s, (enum rollup_state[]){RS_YES, RS_OPEN, RS_NO, RS_OPEN}, 4);
    assert_string_equal(plan(PAR, s, 4), "KCKC");
    assert_int_equal(rollup_side(s, 4), RV_FAIL);
}

static void all_pass(void **state)
{
    (void)state;
    struct rollup_step s[3];
    steps(s, (enum rollup_state[]){RS_YES, RS_YES, RS_YES}, 3);
    assert_int_equal(rollup_side(s, 3), RV_PASS);
    assert_int_equal(rollup_side(s, 2), RV_PASS);
    /* Nothing to judge is no pass. */
    assert_int_equal(rollup_side(s, 0), RV_FAIL);
    assert_string_equal(rollup_verdict_name(RV_PASS), "pass");
    assert_string_equal(rollup_verdict_name(RV_OPEN), "open");
    assert_string_equal(rollup_verdict_name(RV_FAIL), "fail");
}

static void rubric_veto(void **state)
{
    (void)state;
    /* Criteria: 0 and 2 are vetoes, 1 and 3 count as a score. */
    struct rollup_step s[4] = {{RS_YES, true}, {RS_NO, false}, {RS_OPEN, true}, {RS_YES, false}};
    assert_string_equal(plan(PAR, s, 4), "KKKK"); /* a non-veto no stops nothing */
    assert_int_equal(rollup_side(s, 4), RV_OPEN);
    assert_true(rollup_rubric_score(s, 4) > 0.49 && rollup_rubric_score(s, 4) < 0.51);
    s[2].state = RS_YES;
    assert_int_equal(rollup_side(s, 4), RV_PASS); /* vetoes pass: the rubric passes */
    s[2].state = RS_NO;
    assert_int_equal(rollup_side(s, 4), RV_FAIL);
    struct rollup_step none[1] = {{RS_OPEN, true}};
    assert_true(rollup_rubric_score(none, 1) < 0);
}

static void unsure_once_then_escalate(void **state)
{
    (void)state;
    assert_int_equal(rollup_answer(1, 0, 0, false), RANS_YES);
    assert_int_equal(rollup_answer(0, 1, 0, false), RANS_NO);
    assert_int_equal(rollup_answer(0, 0, 1, false), RANS_ASK_MORE);
    assert_int_equal(rollup_answer(1, 0, 1, true), RANS_YES); /* the extra rater decides */
    assert_int_equal(rollup_answer(0, 0, 2, true), RANS_ESCALATE);
    assert_int_equal(rollup_answer(1, 1, 0, false), RANS_ASK_MORE);
    assert_int_equal(rollup_answer(1, 1, 1, true), RANS_ESCALATE);
    assert_int_equal(rollup_answer(2, 1, 0, false), RANS_YES);
}

static void pair_decisions(void **state)
{
    (void)state;
    assert_int_equal(rollup_decide(true, RV_PASS, RV_FAIL), RD_A);
    assert_int_equal(rollup_decide(true, RV_FAIL, RV_PASS), RD_B);
    assert_int_equal(rollup_decide(true, RV_PASS, RV_PASS), RD_WHOLE);
    assert_int_equal(rollup_decide(true, RV_FAIL, RV_FAIL), RD_WHOLE);
    assert_int_equal(rollup_decide(true, RV_FAIL, RV_OPEN), RD_WAIT);
    assert_int_equal(rollup_decide(true, RV_OPEN, RV_PASS), RD_WAIT);
    assert_int_equal(rollup_decide(false, RV_PASS, RV_OPEN), RD_GOOD);
    assert_int_equal(rollup_decide(false, RV_FAIL, RV_PASS), RD_BAD);
    assert_int_equal(rollup_decide(false, RV_OPEN, RV_PASS), RD_WAIT);
    assert_string_equal(rollup_decision_verdict(RD_B), "b");
    assert_string_equal(rollup_decision_verdict(RD_GOOD), "good");
    assert_null(rollup_decision_verdict(RD_WHOLE));
    assert_null(rollup_decision_verdict(RD_WAIT));
}

static void labels_and_orders(void **state)
{
    (void)state;
    struct label_facts f = {.kind = "pair",
                            .answer = "yes",
                            .open = true,
                            .served = true,
                            .lease_live = true,
                            .overlap = 1};
    assert_int_equal(rollup_label_admissible(&f), LABEL_RECORDED);
    f.answer = "a";
    assert_int_equal(rollup_label_admissible(&f), LABEL_BAD_ANSWER);
    f.answer = "unsure";
    f.previous = "unsure";
    assert_int_equal(rollup_label_admissible(&f), LABEL_REPEAT);
    f.previous = "no";
    assert_int_equal(rollup_label_admissible(&f), LABEL_CONFLICT);
    f.previous = NULL;
    f.served = false;
    assert_int_equal(rollup_label_admissible(&f), LABEL_NOT_SERVED);
    assert_true(rollup_answer_fits("no"));
    assert_false(rollup_answer_fits("good"));
    assert_false(rollup_answer_fits(NULL));
    enum rollup_order o = ROLLUP_PARALLEL;
    assert_int_equal(rollup_order_parse("sequential", &o), 0);
    assert_int_equal(o, ROLLUP_SEQUENTIAL);
    assert_int_equal(rollup_order_parse("Parallel", &o), -EINVAL);
    assert_int_equal(rollup_order_parse(NULL, &o), -EINVAL);
    assert_string_equal(rollup_order_name(ROLLUP_PARALLEL), "parallel");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sequential_opens_one_at_a_time),
        cmocka_unit_test(no_ends_the_side),
        cmocka_unit_test(all_pass),
        cmocka_unit_test(rubric_veto),
        cmocka_unit_test(unsure_once_then_escalate),
        cmocka_unit_test(pair_decisions),
        cmocka_unit_test(labels_and_orders),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
