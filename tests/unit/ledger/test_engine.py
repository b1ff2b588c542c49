"""services/ledger/service/engine.py: balances per account type and currency, holds, and
the arithmetic of posting, voiding, expiring and reversing, without a database."""

from __future__ import annotations

from dataclasses import replace

import pytest

from services.ledger.errors import InsufficientFundsError, UnbalancedError
from services.ledger.repository.rows import NewEntry, NewHold
from services.ledger.service.engine import (
    AccountState,
    Leg,
    Plan,
    account_changes,
    apply,
    check_balanced,
)

DEBIT_NORMAL = ["asset", "expense"]
CREDIT_NORMAL = ["liability", "equity", "revenue"]


def account(
    account_id: str,
    type_: str = "asset",
    *,
    currency: str = "usd",
    no_overdraft: bool = False,
    debits: int = 0,
    credits: int = 0,
    pending_debits: int = 0,
    pending_credits: int = 0,
    expired_debits: int = 0,
    expired_credits: int = 0,
    version: int = 0,
) -> AccountState:
    return AccountState(
        id=account_id,
        type=type_,
        currency=currency,
        no_overdraft=no_overdraft,
        debits_posted=debits,
        credits_posted=credits,
        debits_pending=pending_debits,
        credits_pending=pending_credits,
        expired_debits=expired_debits,
        expired_credits=expired_credits,
        version=version,
    )


def books(*states: AccountState) -> dict[str, AccountState]:
    return {state.id: state for state in states}


def transfer(debit: str, credit: str, amount: int, effect: str = "posted") -> list[Leg]:
    return [
        Leg(debit, "debit", amount, effect, param="entries[0]"),
        Leg(credit, "credit", amount, effect, param="entries[1]"),
    ]


def opposite(legs: list[Leg]) -> list[Leg]:
    """A reversal's legs: each entry's direction turned around (settlement.reverse)."""
    return [
        Leg(leg.account_id, "credit" if leg.direction == "debit" else "debit", leg.amount, "posted")
        for leg in legs
    ]


def released(legs: list[Leg]) -> list[Leg]:
    """What voiding or expiring a hold applies: each hold leaves the pending totals."""
    return [Leg(leg.account_id, leg.direction, leg.amount, "release") for leg in legs]


def entries(plan: Plan) -> list[tuple[str, str, int, bool, int, int]]:
    return [
        (e.account_id, e.direction, e.amount, e.pending, e.balance_after, e.version_after)
        for e in plan.entries
    ]


# ---------------------------------------------------------------------------------------
# Balances


class TestBalances:
    @pytest.mark.parametrize("type_", DEBIT_NORMAL)
    def test_debit_normal_accounts_grow_with_debits(self, type_: str) -> None:
        state = account("a", type_, debits=500, credits=200)
        assert (state.debit_normal, state.posted) == (True, 300)

    @pytest.mark.parametrize("type_", CREDIT_NORMAL)
    def test_credit_normal_accounts_grow_with_credits(self, type_: str) -> None:
        state = account("a", type_, debits=200, credits=500)
        assert (state.debit_normal, state.posted) == (False, 300)

    @pytest.mark.parametrize(
        ("type_", "debits", "credits", "posted"),
        [("asset", 30, 100, -70), ("revenue", 100, 30, -70)],
    )
    def test_a_balance_can_be_negative(
        self, type_: str, debits: int, credits: int, posted: int
    ) -> None:
        assert account("a", type_, debits=debits, credits=credits).posted == posted

    def test_an_empty_account_has_nothing(self) -> None:
        state = account("a", "liability")
        assert (state.posted, state.held_debits, state.held_credits, state.available) == (
            0,
            0,
            0,
            0,
        )

    @pytest.mark.parametrize("type_", DEBIT_NORMAL)
    def test_debit_normal_outflows_on_hold_leave_available_at_once(self, type_: str) -> None:
        state = account("a", type_, debits=1000, pending_credits=300, pending_debits=50)
        # Held credits take money out; held debits (money coming in) count only once posted.
        assert (state.posted, state.available) == (1000, 700)

    @pytest.mark.parametrize("type_", CREDIT_NORMAL)
    def test_credit_normal_outflows_on_hold_leave_available_at_once(self, type_: str) -> None:
        state = account("a", type_, credits=1000, pending_debits=300, pending_credits=50)
        assert (state.posted, state.available) == (1000, 700)

    def test_a_lapsed_hold_no_longer_counts_before_it_is_swept(self) -> None:
        state = account(
            "wallet",
            "liability",
            credits=1000,
            pending_debits=300,
            expired_debits=100,
            pending_credits=40,
            expired_credits=40,
        )
        assert (state.held_debits, state.held_credits) == (200, 0)
        assert state.available == 800

    def test_snapshot_and_restore_cover_the_running_totals_and_version(self) -> None:
        state = account(
            "a", debits=1, credits=2, pending_debits=3, pending_credits=4, expired_debits=3
        )
        state.version = 5
        saved = state.snapshot()
        assert saved == (1, 2, 3, 4, 5)
        state.debits_posted, state.credits_pending, state.version = 99, 99, 99
        state.restore(saved)
        assert state == account(
            "a",
            debits=1,
            credits=2,
            pending_debits=3,
            pending_credits=4,
            expired_debits=3,
            version=5,
        )


# ---------------------------------------------------------------------------------------
# Balance per currency


class TestCheckBalanced:
    def test_debits_equal_to_credits_pass(self) -> None:
        check_balanced(transfer("cash", "sales", 100), books(account("cash"), account("sales")))

    def test_several_legs_on_one_side_pass(self) -> None:
        states = books(account("cash"), account("fees"), account("sales", "revenue"))
        legs = [
            Leg("cash", "debit", 90),
            Leg("fees", "debit", 10),
            Leg("sales", "credit", 100),
        ]
        check_balanced(legs, states)

    def test_no_legs_pass(self) -> None:
        check_balanced([], {})

    @pytest.mark.parametrize(
        ("debit", "credit", "message"),
        [
            (101, 100, "Debits and credits must balance in usd: debits exceed by 1."),
            (100, 130, "Debits and credits must balance in usd: credits exceed by 30."),
        ],
    )
    def test_a_difference_names_the_side_and_the_amount(
        self, debit: int, credit: int, message: str
    ) -> None:
        legs = [Leg("cash", "debit", debit), Leg("sales", "credit", credit)]
        with pytest.raises(UnbalancedError) as raised:
            check_balanced(legs, books(account("cash"), account("sales")))
        error = raised.value
        assert (error.status_code, error.type, error.code, error.param) == (
            400,
            "invalid_request_error",
            "transaction_unbalanced",
            "entries",
        )
        assert error.message == message

    def test_every_currency_balances_on_its_own(self) -> None:
        states = books(
            account("cash"),
            account("sales"),
            account("cash_eur", currency="eur"),
            account("sales_eur", currency="eur"),
        )
        check_balanced(
            transfer("cash", "sales", 100) + transfer("cash_eur", "sales_eur", 90), states
        )

    def test_balanced_overall_but_not_per_currency_is_refused(self) -> None:
        states = books(
            account("cash"),
            account("sales"),
            account("cash_eur", currency="eur"),
            account("sales_eur", currency="eur"),
        )
        legs = [
            Leg("cash", "debit", 100),
            Leg("sales", "credit", 90),
            Leg("cash_eur", "debit", 90),
            Leg("sales_eur", "credit", 100),
        ]
        with pytest.raises(UnbalancedError, match="in usd: debits exceed by 10"):
            check_balanced(legs, states)

    def test_an_account_of_another_currency_cannot_balance_a_leg(self) -> None:
        states = books(account("cash"), account("sales_eur", currency="eur"))
        with pytest.raises(UnbalancedError, match="in usd: debits exceed by 100"):
            check_balanced(transfer("cash", "sales_eur", 100), states)


# ---------------------------------------------------------------------------------------
# Posting


class TestPosted:
    def test_a_transfer_moves_both_accounts_and_writes_two_entries(self) -> None:
        states = books(account("cash"), account("sales", "revenue"))
        plan = Plan()
        apply("txn_1", transfer("cash", "sales", 250), states, plan)
        assert states["cash"].snapshot() == (250, 0, 0, 0, 1)
        assert states["sales"].snapshot() == (0, 250, 0, 0, 1)
        assert entries(plan) == [
            ("cash", "debit", 250, False, 250, 1),
            ("sales", "credit", 250, False, 250, 1),
        ]
        assert plan.holds == []

    def test_an_entry_carries_its_transaction_currency_and_a_fresh_id(self) -> None:
        states = books(account("a", currency="eur"), account("b", "revenue", currency="eur"))
        plan = Plan()
        apply("txn_1", transfer("a", "b", 5), states, plan)
        first, second = plan.entries
        assert isinstance(first, NewEntry)
        assert (first.transaction_id, first.currency) == ("txn_1", "eur")
        assert first.id.startswith("ent_")
        assert second.id.startswith("ent_")
        assert first.id != second.id

    def test_balance_after_is_in_the_accounts_own_direction(self) -> None:
        states = books(account("wallet", "liability", credits=100), account("cash", debits=100))
        plan = Plan()
        apply("txn_1", transfer("wallet", "cash", 30), states, plan)
        # A debit lowers a liability and raises an asset.
        assert entries(plan) == [
            ("wallet", "debit", 30, False, 70, 1),
            ("cash", "credit", 30, False, 70, 1),
        ]

    def test_each_leg_on_one_account_takes_a_version_in_order(self) -> None:
        states = books(account("cash", version=7), account("sales", "revenue"))
        legs = [
            Leg("cash", "debit", 100),
            Leg("cash", "credit", 40),
            Leg("sales", "credit", 60),
        ]
        plan = Plan()
        apply("txn_1", legs, states, plan)
        assert entries(plan) == [
            ("cash", "debit", 100, False, 100, 8),
            ("cash", "credit", 40, False, 60, 9),
            ("sales", "credit", 60, False, 60, 1),
        ]
        assert states["cash"].version == 9

    def test_transactions_applied_in_turn_build_one_plan(self) -> None:
        states = books(account("cash"), account("sales", "revenue"))
        plan = Plan()
        for number in range(1, 4):
            apply(f"txn_{number}", transfer("cash", "sales", number), states, plan)
        assert [
            (e.transaction_id, e.balance_after) for e in plan.entries if e.account_id == "cash"
        ] == [
            ("txn_1", 1),
            ("txn_2", 3),
            ("txn_3", 6),
        ]
        assert states["cash"].version == 3


# ---------------------------------------------------------------------------------------
# Limits


class TestNoOverdraft:
    def test_spending_exactly_the_balance_is_fine(self) -> None:
        states = books(account("wallet", "liability", no_overdraft=True, credits=100), account("m"))
        apply("txn_1", transfer("wallet", "m", 100), states, Plan())
        assert states["wallet"].available == 0

    def test_spending_more_is_refused_naming_the_leg(self) -> None:
        states = books(
            account("wallet", "liability", no_overdraft=True, credits=100),
            account("merchant", "liability"),
        )
        with pytest.raises(InsufficientFundsError) as raised:
            apply("txn_1", transfer("wallet", "merchant", 101), states, Plan())
        error = raised.value
        assert (error.status_code, error.type, error.code, error.param) == (
            402,
            "invalid_request_error",
            "insufficient_funds",
            "entries[0]",
        )
        assert "'wallet'" in error.message

    def test_the_param_is_the_first_leg_on_the_overdrawn_account(self) -> None:
        states = books(account("wallet", "liability", no_overdraft=True), account("cash"))
        legs = [
            Leg("cash", "credit", 5, param="entries[0]"),
            Leg("wallet", "debit", 2, param="entries[1]"),
            Leg("wallet", "debit", 3, param="entries[2]"),
        ]
        with pytest.raises(InsufficientFundsError) as raised:
            apply("txn_1", legs, states, Plan())
        assert raised.value.param == "entries[1]"

    def test_the_rule_is_checked_after_every_leg_not_between_them(self) -> None:
        # Out and back within one transaction: never below zero once it is whole.
        states = books(account("wallet", "liability", no_overdraft=True), account("cash"))
        legs = [
            Leg("wallet", "debit", 50),
            Leg("cash", "credit", 50),
            Leg("cash", "debit", 50),
            Leg("wallet", "credit", 50),
        ]
        apply("txn_1", legs, states, Plan())
        assert states["wallet"].posted == 0

    def test_accounts_without_the_rule_may_go_below_zero(self) -> None:
        states = books(account("cash"), account("sales", "revenue"))
        apply("txn_1", transfer("sales", "cash", 500), states, Plan())
        assert (states["cash"].posted, states["sales"].posted) == (-500, -500)

    @pytest.mark.parametrize("type_", DEBIT_NORMAL)
    def test_a_debit_normal_account_is_guarded_too(self, type_: str) -> None:
        states = books(account("float", type_, no_overdraft=True, debits=10), account("x"))
        with pytest.raises(InsufficientFundsError):
            apply("txn_1", transfer("x", "float", 11), states, Plan())

    def test_funds_on_hold_are_not_available(self) -> None:
        states = books(
            account("wallet", "liability", no_overdraft=True, credits=1000, pending_debits=100),
            account("merchant", "liability"),
        )
        with pytest.raises(InsufficientFundsError):
            apply("txn_1", transfer("wallet", "merchant", 901), states, Plan())
        apply("txn_2", transfer("wallet", "merchant", 900), states, Plan())
        assert states["wallet"].available == 0

    def test_money_held_on_the_way_in_cannot_be_spent_yet(self) -> None:
        states = books(
            account("wallet", "liability", no_overdraft=True, pending_credits=500),
            account("merchant", "liability"),
        )
        with pytest.raises(InsufficientFundsError):
            apply("txn_1", transfer("wallet", "merchant", 1), states, Plan())

    def test_a_lapsed_hold_frees_its_funds(self) -> None:
        states = books(
            account(
                "wallet",
                "liability",
                no_overdraft=True,
                credits=100,
                pending_debits=100,
                expired_debits=100,
            ),
            account("merchant", "liability"),
        )
        apply("txn_1", transfer("wallet", "merchant", 100), states, Plan())
        assert states["wallet"].posted == 0


class TestARefusalChangesNothing:
    def test_states_and_plan_are_as_before_the_refused_transaction(self) -> None:
        states = books(
            account("wallet", "liability", no_overdraft=True, credits=100, version=3),
            account("merchant", "liability"),
        )
        plan = Plan()
        apply("txn_ok", transfer("wallet", "merchant", 60), states, plan)
        apply("txn_hold", transfer("wallet", "merchant", 10, "hold"), states, plan)
        before = {account_id: state.snapshot() for account_id, state in states.items()}
        kept = (list(plan.entries), list(plan.holds))
        with pytest.raises(InsufficientFundsError):
            apply("txn_no", transfer("wallet", "merchant", 31, "hold"), states, plan)
        assert {account_id: state.snapshot() for account_id, state in states.items()} == before
        assert (plan.entries, plan.holds) == kept

    def test_an_unexpected_error_midway_undoes_the_legs_before_it(self) -> None:
        states = books(account("cash"), account("sales", "revenue"))
        broken = Leg("sales", "credit", None)  # type: ignore[arg-type]  # fails when added
        plan = Plan()
        with pytest.raises(TypeError):
            apply("txn_1", [Leg("cash", "debit", 5), broken], states, plan)
        assert states["cash"].snapshot() == (0, 0, 0, 0, 0)
        assert plan.entries == []


# ---------------------------------------------------------------------------------------
# Holds and what settles them (the legs `settlement` builds)


class TestHolds:
    def test_a_hold_moves_the_pending_totals_and_records_the_hold(self) -> None:
        states = books(
            account("wallet", "liability", credits=1000), account("merchant", "liability")
        )
        plan = Plan()
        apply("txn_h", transfer("wallet", "merchant", 100, "hold"), states, plan)
        assert states["wallet"].snapshot() == (0, 1000, 100, 0, 1)
        assert states["merchant"].snapshot() == (0, 0, 0, 100, 1)
        assert (states["wallet"].available, states["merchant"].available) == (900, 0)
        # Pending entries keep the posted balance as it was.
        assert entries(plan) == [
            ("wallet", "debit", 100, True, 1000, 1),
            ("merchant", "credit", 100, True, 0, 1),
        ]
        assert plan.holds == [
            NewHold("txn_h", "wallet", "debit", 100),
            NewHold("txn_h", "merchant", "credit", 100),
        ]

    def test_posting_in_full_releases_the_hold_and_posts_it(self) -> None:
        states = books(
            account("wallet", "liability", credits=1000), account("merchant", "liability")
        )
        held = transfer("wallet", "merchant", 100, "hold")
        apply("txn_h", held, states, Plan())
        plan = Plan()
        posting = [replace(leg, effect="posted", param=None) for leg in held]
        apply("txn_p", released(held) + posting, states, plan)
        assert states["wallet"].snapshot() == (100, 1000, 0, 0, 3)
        assert states["merchant"].snapshot() == (0, 100, 0, 0, 3)
        assert (states["wallet"].available, states["merchant"].available) == (900, 100)
        # A release writes no entry (history keeps the hold): only the posting's two.
        assert entries(plan) == [
            ("wallet", "debit", 100, False, 900, 3),
            ("merchant", "credit", 100, False, 100, 3),
        ]
        assert plan.holds == []

    def test_posting_in_part_releases_the_rest(self) -> None:
        states = books(
            account("wallet", "liability", credits=1000), account("merchant", "liability")
        )
        held = transfer("wallet", "merchant", 100, "hold")
        apply("txn_h", held, states, Plan())
        partial = [replace(leg, amount=60, effect="posted") for leg in held]
        apply("txn_p", released(held) + partial, states, Plan())
        assert (states["wallet"].posted, states["wallet"].available) == (940, 940)
        assert (states["merchant"].posted, states["merchant"].available) == (60, 60)
        assert states["wallet"].debits_pending == states["merchant"].credits_pending == 0

    @pytest.mark.parametrize("why", ["voided", "expired"])
    def test_voiding_or_expiring_releases_without_an_entry(self, why: str) -> None:
        states = books(
            account("wallet", "liability", credits=1000), account("merchant", "liability")
        )
        held = transfer("wallet", "merchant", 100, "hold")
        apply("txn_h", held, states, Plan())
        if why == "expired":
            states["wallet"].expired_debits = states["merchant"].expired_credits = 100
            assert states["wallet"].available == 1000  # lapsed: free before the sweep
        plan = Plan()
        apply("", released(held), states, plan)
        assert states["wallet"].snapshot() == (0, 1000, 0, 0, 2)
        assert states["merchant"].snapshot() == (0, 0, 0, 0, 2)
        assert plan.entries == []
        assert plan.holds == []

    def test_releasing_a_hold_on_a_guarded_account_never_fails(self) -> None:
        # The sweeper's release must go through even when the hold had already lapsed.
        states = books(
            account("wallet", "liability", no_overdraft=True, credits=100),
            account("merchant", "liability"),
        )
        held = transfer("wallet", "merchant", 100, "hold")
        apply("txn_h", held, states, Plan())
        states["wallet"].expired_debits = 100
        apply("", released(held), states, Plan())
        assert states["wallet"].debits_pending == 0


class TestReversal:
    def test_the_opposite_legs_undo_the_balances(self) -> None:
        states = books(
            account("wallet", "liability", credits=1000), account("merchant", "liability")
        )
        paid = transfer("wallet", "merchant", 300)
        apply("txn_pay", paid, states, Plan())
        plan = Plan()
        apply("txn_rev", opposite(paid), states, plan)
        assert (states["wallet"].posted, states["merchant"].posted) == (1000, 0)
        assert entries(plan) == [
            ("wallet", "credit", 300, False, 1000, 2),
            ("merchant", "debit", 300, False, 0, 2),
        ]

    def test_a_reversal_that_would_overdraw_is_refused(self) -> None:
        states = books(account("cash"), account("wallet", "liability", no_overdraft=True))
        funding = transfer("cash", "wallet", 100)
        apply("txn_fund", funding, states, Plan())
        apply("txn_spend", transfer("wallet", "cash", 100), states, Plan())
        reversal = [replace(leg, param="id") for leg in opposite(funding)]
        with pytest.raises(InsufficientFundsError) as raised:
            apply("txn_rev", reversal, states, Plan())
        assert raised.value.param == "id"
        assert states["wallet"].posted == 0


# ---------------------------------------------------------------------------------------
# The summed update per account


class TestAccountChanges:
    def test_one_summed_change_per_touched_account(self) -> None:
        states = books(
            account("wallet", "liability", credits=1000, version=4),
            account("merchant", "liability"),
            account("idle"),
        )
        original = {account_id: state.snapshot() for account_id, state in states.items()}
        plan = Plan()
        apply("txn_1", transfer("wallet", "merchant", 10), states, plan)
        apply("txn_2", transfer("wallet", "merchant", 20, "hold"), states, plan)
        apply("txn_3", transfer("merchant", "wallet", 5), states, plan)
        assert sorted(account_changes(states, original)) == [
            ("merchant", 5, 10, 0, 20, 3),
            ("wallet", 10, 5, 20, 0, 7),
        ]

    def test_a_release_is_a_negative_pending_change(self) -> None:
        states = books(
            account("wallet", "liability", credits=100, pending_debits=30, version=2),
            account("merchant", "liability", pending_credits=30, version=1),
        )
        original = {account_id: state.snapshot() for account_id, state in states.items()}
        apply("", released(transfer("wallet", "merchant", 30)), states, Plan())
        assert sorted(account_changes(states, original)) == [
            ("merchant", 0, 0, 0, -30, 2),
            ("wallet", 0, 0, -30, 0, 3),
        ]

    def test_nothing_changed_nothing_to_write(self) -> None:
        states = books(account("wallet", "liability", no_overdraft=True), account("merchant"))
        original = {account_id: state.snapshot() for account_id, state in states.items()}
        with pytest.raises(InsufficientFundsError):
            apply("txn_1", transfer("wallet", "merchant", 1), states, Plan())
        assert account_changes(states, original) == []
