"""A caller: finds the functions examples/agent.py serves and calls them.

ARKITEKT_URL=http://localhost:8000 python examples/caller.py
"""

from arkitekt import call, easy, find, iterate


def main() -> None:
    with easy("caller"):
        greet = find(interface="greet")
        print(call(greet, "world", times=2))  # also greet("world", times=2)
        for i in iterate(find(interface="count"), 5):
            print(i)
        with greet:  # a reservation: calls inside are routed among the agents providing it
            print(greet.assign("johannes"))


if __name__ == "__main__":
    main()
