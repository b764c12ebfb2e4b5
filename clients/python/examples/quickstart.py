from clobchain import Client
client = Client()  # $CLOBCHAIN_URL or http://127.0.0.1:8080
key = client.demo_account()  # dev chains: a new key funded through the faucet
placed = client.place(key, "BTC-USD", "buy", "65000.00", "0.25", wait=True)  # exact decimals
print(placed.status, placed.order_ids, client.book("BTC-USD", depth=1).bids[0])
