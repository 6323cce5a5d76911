/* Rules of sub-question review; see rollup.h. */
#include "rollup.h"

#include <errno.h>
#include <string.h>

/* Names by enum value, as the API and the tables spell them. */
static const char *const order_names[] = {"sequential", "parallel"};
static const char *const verdict_names[] = {"open", "pass", "fail"};
static const char *const decision_verdicts[] = {NULL, "a", "b", "good", "bad", NULL};

#define NAME_OF(table, v) ((unsigned)(v) < sizeof(table) / sizeof(table)[0] ? (table)[v] : NULL)

int rollup_order_parse(const char *name, enum rollup_order *out)
{
    for (size_t i = 0; name && i < sizeof order_names / sizeof order_names[0]; i++) {
        if (!strcmp(name, order_names[i])) {
            *out = (enum rollup_order)i;
            return 0;
        }
    }
    return -EINVAL;
}

const char *rollup_order_name(enum rollup_order order)
{
    return NAME_OF(order_names, order);
}

static bool answered(enum rollup_state st)
{
    return st == RS_YES || st == RS_NO;
}

static bool sunk(const struct rollup_step *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i].sinks && s[i].state == RS_NO)
            return true;
    return false;
}

void rollup_plan(enum rollup_order order, const struct rollup_step *s, size_t n,
                 enum rollup_action *act)
{
    bool stop = sunk(s, n);
    bool first = true; /* sequential: the first unanswered one is not met yet */
    for (size_t i = 0; i < n; i++) {
        act[i] = RA_KEEP;
        if (stop) {
            if (s[i].state == RS_PENDING || s[i].state == RS_OPEN)
                act[i] = RA_CLOSE;
            continue;
        }
        if (answered(s[i].state) || s[i].state == RS_CLOSED)
            continue;
        if (s[i].state == RS_PENDING && (order == ROLLUP_PARALLEL || first))
            act[i] = RA_OPEN;
        first = false;
    }
}

enum rollup_verdict rollup_side(const struct rollup_step *s, size_t n)
{
    if (n == 0 || sunk(s, n))
        return RV_FAIL;
    for (size_t i = 0; i < n; i++)
        if (!answered(s[i].state))
            return RV_OPEN;
    return RV_PASS;
}

const char *rollup_verdict_name(enum rollup_verdict v)
{
    return NAME_OF(verdict_names, v);
}

double rollup_rubric_score(const struct rollup_step *s, size_t n)
{
    int yes = 0, done = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i].sinks || !answered(s[i].state))
            continue;
        done++;
        yes += s[i].state == RS_YES;
    }
    return done ? (double)yes / (double)done : -1.0;
}

enum rollup_answer rollup_answer(int yes, int no, int unsure, bool extra_used)
{
    (void)unsure; /* unsure abstains: it only makes a tie more likely */
    if (yes > no)
        return RANS_YES;
    if (no > yes)
        return RANS_NO;
    return extra_used ? RANS_ESCALATE : RANS_ASK_MORE;
}

bool rollup_answer_fits(const char *answer)
{
    return answer && (!strcmp(answer, "yes") || !strcmp(answer, "no") || !strcmp(answer, "unsure"));
}

/* The pair answer standing for a sub-question answer: label_admissible's
 * rules compare answers only for equality, so any one-to-one stand-in of
 * the same kind keeps them exact. */
static const char *stand_in(const char *answer)
{
    if (!answer)
        return NULL;
    return !strcmp(answer, "yes") ? "a" : !strcmp(answer, "no") ? "b" : "tie";
}

enum label_result rollup_label_admissible(const struct label_facts *f)
{
    if (!rollup_answer_fits(f->answer))
        return LABEL_BAD_ANSWER;
    struct label_facts g = *f;
    g.kind = "pair";
    g.answer = stand_in(f->answer);
    g.previous = stand_in(f->previous);
    return label_admissible(&g);
}

enum rollup_decision rollup_decide(bool pair, enum rollup_verdict a, enum rollup_verdict b)
{
    if (!pair)
        return a == RV_OPEN ? RD_WAIT : a == RV_PASS ? RD_GOOD : RD_BAD;
    if (a == RV_OPEN || b == RV_OPEN)
        return RD_WAIT;
    if (a != b)
        return a == RV_PASS ? RD_A : RD_B;
    return RD_WHOLE;
}

const char *rollup_decision_verdict(enum rollup_decision d)
{
    return NAME_OF(decision_verdicts, d);
}
