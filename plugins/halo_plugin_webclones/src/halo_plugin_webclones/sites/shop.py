"""ShopClone - a small Amazon-like store (catalog, cart, checkout, orders)."""

from __future__ import annotations

import copy
import re
import urllib.parse

from ..server import BaseSite, Form, Response, errors_block, esc, field, first, modal, redirect

CATEGORIES = ("Kitchen", "Electronics", "Books", "Sports", "Home")

# id, name, category, price, rating, stock, description
PRODUCTS = [
    ("p1", "Acme Blender 3000", "Kitchen", 79.99, 4.5, 12, "A 1200 W countertop blender with 5 speeds and a 2 litre glass jar."),
    ("p2", "Breezy Mini Blender", "Kitchen", 49.99, 4.1, 8, "Compact personal blender for smoothies, with two travel cups."),
    ("p3", "ProChef Blender Max", "Kitchen", 129.00, 4.7, 5, "Professional-grade blender with a 2 HP motor and self-cleaning mode."),
    ("p4", "Steelbrew Coffee Maker", "Kitchen", 89.50, 4.3, 10, "Programmable 12-cup drip coffee maker with a thermal carafe."),
    ("p5", "Crispy Air Fryer XL", "Kitchen", 119.99, 4.6, 7, "5.8 quart air fryer with 8 presets and a dishwasher-safe basket."),
    ("p6", "Everyday Chef Knife", "Kitchen", 34.95, 4.4, 25, "8-inch stainless steel chef knife with an ergonomic handle."),
    ("p7", "Nimbus Wireless Earbuds", "Electronics", 59.99, 4.2, 30, "True wireless earbuds with noise isolation and 24 h battery case."),
    ("p8", "Orbit Bluetooth Speaker", "Electronics", 45.00, 4.0, 14, "Water-resistant portable speaker with 12 hours of playtime."),
    ("p9", "Pixel Pro USB-C Charger", "Electronics", 19.99, 4.5, 50, "65 W fast charger with one USB-C port, compatible with laptops."),
    ("p10", "Vista 27-inch Monitor", "Electronics", 249.99, 4.6, 6, "27-inch 1440p IPS monitor with a 144 Hz refresh rate."),
    ("p11", "Glide Wireless Mouse", "Electronics", 24.99, 4.3, 40, "Silent-click wireless mouse with a rechargeable battery."),
    ("p12", "The Quiet Garden", "Books", 14.99, 4.8, 20, "A bestselling novel about a family and the garden that holds them together."),
    ("p13", "Python for Busy People", "Books", 39.99, 4.5, 15, "A practical programming book with short, focused chapters."),
    ("p14", "Mountain Trails Guidebook", "Books", 22.50, 4.1, 9, "Maps and descriptions of 60 day hikes in the western mountains."),
    ("p15", "TrailRunner Running Shoes", "Sports", 89.99, 4.4, 11, "Lightweight trail running shoes with a grippy outsole."),
    ("p16", "ZenFlow Yoga Mat", "Sports", 29.99, 4.7, 18, "6 mm non-slip yoga mat with a carrying strap."),
    ("p17", "AquaPeak Water Bottle", "Sports", 15.99, 4.6, 60, "Insulated 750 ml stainless steel bottle that keeps drinks cold for 24 h."),
    ("p18", "Summit Daypack 20L", "Sports", 64.00, 4.3, 0, "Lightweight 20 litre hiking backpack with a hydration sleeve."),
    ("p19", "Lumen Desk Lamp", "Home", 39.00, 4.2, 13, "Dimmable LED desk lamp with adjustable colour temperature."),
    ("p20", "CozyKnit Throw Blanket", "Home", 42.99, 4.8, 16, "Soft chunky-knit throw blanket, 130 x 170 cm."),
]

EXPRESS_COST = 9.99

SORTS = [
    ("relevance", "Relevance"),
    ("price_asc", "Price: low to high"),
    ("price_desc", "Price: high to low"),
    ("rating", "Customer rating"),
]


def money(x: float) -> str:
    return f"${x:,.2f}"


def _seed_orders() -> dict:
    return {
        "ORD-1001": {
            "id": "ORD-1001", "date": "2024-06-02", "status": "Delivered",
            "items": [
                {"productId": "p16", "name": "ZenFlow Yoga Mat", "price": 29.99, "quantity": 1},
                {"productId": "p17", "name": "AquaPeak Water Bottle", "price": 15.99, "quantity": 2},
            ],
            "shipping": {"fullName": "Alex Morgan", "street": "500 Pine Road", "city": "Austin", "state": "TX", "zip": "73301"},
            "shippingMethod": "standard", "shippingCost": 0.0,
            "payment": {"cardholder": "Alex Morgan", "cardLast4": "4242", "expiry": "09/27"},
            "subtotal": 61.97, "total": 61.97,
        },
        "ORD-1002": {
            "id": "ORD-1002", "date": "2024-07-10", "status": "Processing",
            "items": [{"productId": "p13", "name": "Python for Busy People", "price": 39.99, "quantity": 1}],
            "shipping": {"fullName": "Alex Morgan", "street": "500 Pine Road", "city": "Austin", "state": "TX", "zip": "73301"},
            "shippingMethod": "express", "shippingCost": 9.99,
            "payment": {"cardholder": "Alex Morgan", "cardLast4": "4242", "expiry": "09/27"},
            "subtotal": 39.99, "total": 49.98,
        },
    }


class ShopSite(BaseSite):
    name = "shop"
    brand = "ShopClone"

    # ------------------------------------------------------------------ state
    def seed_state(self, config: dict) -> dict:
        products = {
            pid: {"id": pid, "name": n, "category": c, "price": p, "rating": r, "stock": s, "description": d}
            for pid, n, c, p, r, s, d in PRODUCTS
        }
        for pid, stock in (config.get("stock") or {}).items():
            if pid in products:
                products[pid]["stock"] = int(stock)
        cart = {}
        for pid, qty in (config.get("cart") or {}).items():
            if pid in products:
                pr = products[pid]
                cart[pid] = {"productId": pid, "name": pr["name"], "price": pr["price"], "quantity": int(qty)}
        return {"shop": {"products": products, "cart": cart, "orders": _seed_orders()}}

    @property
    def products(self) -> dict:
        return self.state["shop"]["products"]

    @property
    def cart(self) -> dict:
        return self.state["shop"]["cart"]

    @property
    def orders(self) -> dict:
        return self.state["shop"]["orders"]

    def routes(self):
        return [
            ("GET", r"/", self.home),
            ("GET", r"/products", self.catalog),
            ("GET", r"/product/([\w-]+)", self.product),
            ("POST", r"/cart/add", self.cart_add),
            ("GET", r"/cart", self.cart_page),
            ("POST", r"/cart/update", self.cart_update),
            ("POST", r"/cart/remove", self.cart_remove),
            ("GET", r"/checkout", self.checkout_page),
            ("POST", r"/checkout", self.checkout_submit),
            ("GET", r"/orders", self.orders_page),
            ("GET", r"/orders/([\w-]+)", self.order_page),
            ("POST", r"/orders/([\w-]+)/cancel", self.order_cancel),
        ]

    def nav_html(self) -> str:
        count = sum(i["quantity"] for i in self.cart.values())
        return (
            '<nav aria-label="Main"><ul>'
            '<li><a href="/products">All products</a></li>'
            f'<li><a href="/cart">Cart</a> <span>({count} items)</span></li><li><a href="/orders">Orders</a></li>'
            "</ul></nav>"
            '<form role="search" action="/products" method="get">'
            '<label class="sr" for="site-search">Search products</label>'
            '<input type="search" id="site-search" name="q" placeholder="Search products">'
            '<button type="submit">Search</button></form>'
        )

    # ------------------------------------------------------------------ pages
    def product_card(self, p: dict) -> str:
        stock = "In stock" if p["stock"] > 0 else "Out of stock"
        return (
            f'<li class="card"><h2><a href="/product/{p["id"]}">{esc(p["name"])}</a></h2>'
            f'<p>{money(p["price"])}</p><p>Rating: {p["rating"]} out of 5</p>'
            f'<p>Category: {esc(p["category"])}</p><p>{stock}</p></li>'
        )

    def home(self, q: Form) -> Response:
        cats = "".join(
            f'<li><a href="/products?category={urllib.parse.quote(c)}">{esc(c)}</a></li>' for c in CATEGORIES
        )
        top = sorted(self.products.values(), key=lambda p: (-p["rating"], p["name"]))[:4]
        body = (
            "<h1>Welcome to ShopClone</h1>"
            '<section aria-labelledby="cat-h"><h2 id="cat-h">Shop by category</h2>'
            f'<ul class="toolbar">{cats}</ul></section>'
            '<section aria-labelledby="top-h"><h2 id="top-h">Top rated</h2>'
            f'<ul class="grid">{"".join(self.product_card(p) for p in top)}</ul></section>'
        )
        return self.page("Home", body)

    def catalog(self, q: Form) -> Response:
        query = first(q, "q").strip()
        category = first(q, "category")
        sort = first(q, "sort") or "relevance"
        errors = []

        def price(name: str) -> float | None:
            raw = first(q, name).strip().replace("$", "")
            if not raw:
                return None
            try:
                return float(raw)
            except ValueError:
                errors.append(f"{'Minimum' if name == 'min' else 'Maximum'} price must be a number.")
                return None

        lo, hi = price("min"), price("max")
        items = list(self.products.values())
        if query:
            tokens = query.lower().split()
            items = [
                p for p in items
                if all(t in f'{p["name"]} {p["category"]} {p["description"]}'.lower() for t in tokens)
            ]
        if category in CATEGORIES:
            items = [p for p in items if p["category"] == category]
        if lo is not None:
            items = [p for p in items if p["price"] >= lo]
        if hi is not None:
            items = [p for p in items if p["price"] <= hi]
        if sort == "price_asc":
            items.sort(key=lambda p: p["price"])
        elif sort == "price_desc":
            items.sort(key=lambda p: -p["price"])
        elif sort == "rating":
            items.sort(key=lambda p: -p["rating"])
        cat_opts = '<option value="">All categories</option>' + "".join(
            f'<option value="{esc(c)}"{" selected" if c == category else ""}>{esc(c)}</option>' for c in CATEGORIES
        )
        sort_opts = "".join(
            f'<option value="{v}"{" selected" if v == sort else ""}>{esc(lbl)}</option>' for v, lbl in SORTS
        )
        title = f'Results for "{query}"' if query else (category if category in CATEGORIES else "All products")
        filters = (
            '<form method="get" action="/products" aria-label="Filters">'
            f'<input type="hidden" name="q" value="{esc(query)}">'
            '<fieldset><legend>Filters</legend>'
            f'<label for="f-category">Category</label><select id="f-category" name="category">{cat_opts}</select>'
            + field("Min price", "min", first(q, "min"), input_type="number", extra=' step="0.01" min="0"')
            + field("Max price", "max", first(q, "max"), input_type="number", extra=' step="0.01" min="0"')
            + f'<label for="f-sort">Sort by</label><select id="f-sort" name="sort">{sort_opts}</select>'
            '<div><button type="submit">Apply filters</button> <a href="/products">Clear filters</a></div>'
            "</fieldset></form>"
        )
        listing = (
            f'<ul class="grid">{"".join(self.product_card(p) for p in items)}</ul>'
            if items else "<p>No products match your search.</p>"
        )
        body = (
            f"<h1>{esc(title)}</h1>{errors_block(errors)}{filters}"
            f'<p role="status">{len(items)} product{"s" if len(items) != 1 else ""} found</p>{listing}'
        )
        return self.page(title, body)

    def product(self, q: Form, pid: str) -> Response:
        p = self.products.get(pid)
        if not p:
            return self.not_found("Product")
        in_cart = self.cart.get(pid, {}).get("quantity", 0)
        if p["stock"] > 0:
            opts = "".join(f'<option value="{i}">{i}</option>' for i in range(1, min(10, p["stock"]) + 1))
            buy = (
                '<form method="post" action="/cart/add">'
                f'<input type="hidden" name="productId" value="{pid}">'
                f'<label for="qty">Quantity</label><select id="qty" name="quantity">{opts}</select>'
                f'<div><button type="submit">Add {esc(p["name"])} to cart</button></div></form>'
            )
            stock = f'In stock ({p["stock"]} available)'
        else:
            buy = f'<p><strong>Currently unavailable.</strong></p><button type="button" disabled>Add {esc(p["name"])} to cart</button>'
            stock = "Out of stock"
        body = (
            f'<article><h1>{esc(p["name"])}</h1>'
            f'<p>Category: <a href="/products?category={urllib.parse.quote(p["category"])}">{esc(p["category"])}</a></p>'
            f'<p>Price: {money(p["price"])}</p><p>Rating: {p["rating"]} out of 5</p><p>{stock}</p>'
            f'<p>{esc(p["description"])}</p>'
            + (f"<p>You have {in_cart} in your cart.</p>" if in_cart else "")
            + f"{buy}</article>"
        )
        return self.page(p["name"], body)

    # ------------------------------------------------------------------ cart
    def _qty(self, raw: str) -> int | None:
        try:
            return int(raw.strip())
        except (ValueError, AttributeError):
            return None

    def cart_add(self, f: Form) -> Response:
        pid = first(f, "productId")
        p = self.products.get(pid)
        qty = self._qty(first(f, "quantity", "1"))
        if not p:
            return self.not_found("Product")
        if qty is None or qty < 1:
            self.flash = "Please choose a valid quantity."
            return redirect(f"/product/{pid}")
        current = self.cart.get(pid, {}).get("quantity", 0)
        if p["stock"] <= 0:
            self.flash = f'{p["name"]} is out of stock.'
            return redirect(f"/product/{pid}")
        if current + qty > p["stock"]:
            self.flash = f'Only {p["stock"]} of {p["name"]} available.'
            return redirect(f"/product/{pid}")
        self.cart[pid] = {"productId": pid, "name": p["name"], "price": p["price"], "quantity": current + qty}
        self.flash = f'Added {qty} x {p["name"]} to your cart.'
        return redirect("/cart")

    def cart_update(self, f: Form) -> Response:
        pid = first(f, "productId")
        qty = self._qty(first(f, "quantity"))
        if pid not in self.cart:
            return redirect("/cart")
        name = self.cart[pid]["name"]
        if qty is None or qty < 0:
            self.flash = f"Quantity for {name} must be a whole number."
        elif qty == 0:
            del self.cart[pid]
            self.flash = f"Removed {name} from your cart."
        elif qty > self.products[pid]["stock"]:
            self.flash = f'Only {self.products[pid]["stock"]} of {name} available.'
        else:
            self.cart[pid]["quantity"] = qty
            self.flash = f"Updated quantity of {name} to {qty}."
        return redirect("/cart")

    def cart_remove(self, f: Form) -> Response:
        pid = first(f, "productId")
        item = self.cart.pop(pid, None)
        if item:
            self.flash = f'Removed {item["name"]} from your cart.'
        return redirect("/cart")

    def subtotal(self) -> float:
        return round(sum(i["price"] * i["quantity"] for i in self.cart.values()), 2)

    def cart_page(self, q: Form) -> Response:
        if not self.cart:
            return self.page("Cart", '<h1>Shopping cart</h1><p>Your cart is empty.</p><p><a href="/products">Continue shopping</a></p>')
        rows = ""
        for pid, it in self.cart.items():
            n = esc(it["name"])
            rows += (
                f'<tr><td><a href="/product/{pid}">{n}</a></td><td>{money(it["price"])}</td><td>'
                f'<form method="post" action="/cart/update"><input type="hidden" name="productId" value="{pid}">'
                f'<label class="sr" for="qty-{pid}">Quantity for {n}</label>'
                f'<input type="number" id="qty-{pid}" name="quantity" min="0" value="{it["quantity"]}" style="min-width:4rem">'
                f' <button type="submit" aria-label="Update {n}">Update</button></form></td>'
                f'<td>{money(it["price"] * it["quantity"])}</td><td>'
                f'<form method="post" action="/cart/remove"><input type="hidden" name="productId" value="{pid}">'
                f'<button type="submit" aria-label="Remove {n}">Remove</button></form></td></tr>'
            )
        body = (
            "<h1>Shopping cart</h1><table><caption class=\"sr\">Items in your cart</caption>"
            "<thead><tr><th>Product</th><th>Price</th><th>Quantity</th><th>Total</th><th>Actions</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>"
            f"<p><strong>Subtotal: {money(self.subtotal())}</strong></p>"
            '<p class="toolbar"><a href="/checkout">Proceed to checkout</a> <a href="/products">Continue shopping</a></p>'
        )
        return self.page("Cart", body)

    # ------------------------------------------------------------------ checkout
    def checkout_page(self, q: Form, values: Form | None = None, errors: dict | None = None) -> Response:
        if not self.cart:
            return self.page("Checkout", '<h1>Checkout</h1><p>Your cart is empty.</p><p><a href="/products">Continue shopping</a></p>')
        v = values or {}
        e = errors or {}
        items = "".join(
            f'<li>{esc(i["name"])} x {i["quantity"]} - {money(i["price"] * i["quantity"])}</li>' for i in self.cart.values()
        )
        method = first(v, "shipping", "standard")
        fld = lambda label, name: field(label, name, first(v, name), error=e.get(name, ""))  # noqa: E731
        body = (
            "<h1>Checkout</h1>" + errors_block(list(e.values()))
            + f'<section aria-labelledby="sum-h"><h2 id="sum-h">Order summary</h2><ul>{items}</ul>'
            f"<p>Items subtotal: {money(self.subtotal())}</p></section>"
            '<form method="post" action="/checkout" id="checkout-form">'
            "<fieldset><legend>Shipping address</legend>"
            + fld("Full name", "fullName") + fld("Street address", "street") + fld("City", "city")
            + fld("State", "state") + fld("ZIP code", "zip")
            + "</fieldset><fieldset class=\"inline\"><legend>Shipping method</legend>"
            f'<div><input type="radio" id="ship-standard" name="shipping" value="standard"{" checked" if method != "express" else ""}>'
            ' <label for="ship-standard">Standard shipping (free)</label></div>'
            f'<div><input type="radio" id="ship-express" name="shipping" value="express"{" checked" if method == "express" else ""}>'
            f' <label for="ship-express">Express shipping ({money(EXPRESS_COST)})</label></div>'
            "</fieldset><fieldset><legend>Payment</legend>"
            + fld("Name on card", "cardholder") + fld("Card number", "cardNumber")
            + fld("Expiry (MM/YY)", "expiry") + field("CVV", "cvv", "", error=e.get("cvv", ""))
            + "</fieldset>"
            '<button type="button" onclick="document.getElementById(\'confirm-order\').showModal()">Place order</button>'
            '<dialog id="confirm-order" aria-labelledby="confirm-order-title">'
            '<h2 id="confirm-order-title">Confirm your order</h2>'
            f"<p>Items subtotal: {money(self.subtotal())}. Shipping is charged according to the method you selected. "
            "Your card will be charged when you confirm.</p>"
            '<button type="submit">Confirm order</button> '
            '<button type="button" onclick="this.closest(\'dialog\').close()">Cancel</button></dialog>'
            "</form>"
        )
        return self.page("Checkout", body)

    def _validate_checkout(self, f: Form) -> dict:
        e: dict = {}
        for key, label in (("fullName", "Full name"), ("street", "Street address"), ("city", "City"), ("state", "State"),
                           ("cardholder", "Name on card")):
            if not first(f, key).strip():
                e[key] = f"{label} is required."
        if not re.fullmatch(r"\d{5}(-\d{4})?", first(f, "zip").strip()):
            e["zip"] = "ZIP code must be 5 digits."
        if first(f, "shipping") not in ("standard", "express"):
            e["shipping"] = "Choose a shipping method."
        card = re.sub(r"[\s-]", "", first(f, "cardNumber"))
        if not re.fullmatch(r"\d{16}", card):
            e["cardNumber"] = "Card number must be 16 digits."
        m = re.fullmatch(r"(0[1-9]|1[0-2])/(\d{2})", first(f, "expiry").strip())
        if not m:
            e["expiry"] = "Expiry must be in MM/YY format."
        else:
            ty, tm = int(self.today[:4]), int(self.today[5:7])
            if (2000 + int(m.group(2)), int(m.group(1))) < (ty, tm):
                e["expiry"] = "This card has expired."
        if not re.fullmatch(r"\d{3,4}", first(f, "cvv").strip()):
            e["cvv"] = "CVV must be 3 or 4 digits."
        for pid, it in self.cart.items():
            if it["quantity"] > self.products[pid]["stock"]:
                e[f"stock-{pid}"] = f'Only {self.products[pid]["stock"]} of {it["name"]} available.'
        return e

    def checkout_submit(self, f: Form) -> Response:
        if not self.cart:
            return redirect("/cart")
        errors = self._validate_checkout(f)
        if errors:
            resp = self.checkout_page({}, f, errors)
            resp.status = 422
            return resp
        nums = [int(k.split("-")[1]) for k in self.orders if re.fullmatch(r"ORD-\d+", k)]
        oid = f"ORD-{max(nums, default=1000) + 1}"
        method = first(f, "shipping")
        ship_cost = EXPRESS_COST if method == "express" else 0.0
        items = [copy.deepcopy(i) for i in self.cart.values()]
        subtotal = self.subtotal()
        card = re.sub(r"[\s-]", "", first(f, "cardNumber"))
        self.orders[oid] = {
            "id": oid, "date": self.today, "status": "Processing", "items": items,
            "shipping": {k: first(f, k).strip() for k in ("fullName", "street", "city", "state", "zip")},
            "shippingMethod": method, "shippingCost": ship_cost,
            "payment": {"cardholder": first(f, "cardholder").strip(), "cardLast4": card[-4:], "expiry": first(f, "expiry").strip()},
            "subtotal": subtotal, "total": round(subtotal + ship_cost, 2),
        }
        for it in items:
            self.products[it["productId"]]["stock"] -= it["quantity"]
        self.cart.clear()
        self.flash = f"Thank you! Your order {oid} has been placed."
        return redirect(f"/orders/{oid}")

    # ------------------------------------------------------------------ orders
    def orders_page(self, q: Form) -> Response:
        rows = ""
        for o in sorted(self.orders.values(), key=lambda o: o["id"], reverse=True):
            summary = ", ".join(f'{i["name"]} x {i["quantity"]}' for i in o["items"])
            rows += (
                f'<tr><td><a href="/orders/{o["id"]}">{o["id"]}</a></td><td>{o["date"]}</td>'
                f'<td>{esc(summary)}</td><td>{money(o["total"])}</td><td>{esc(o["status"])}</td></tr>'
            )
        body = (
            "<h1>Your orders</h1><table><caption class=\"sr\">Order history</caption>"
            "<thead><tr><th>Order</th><th>Date</th><th>Items</th><th>Total</th><th>Status</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>"
        )
        return self.page("Orders", body)

    def order_page(self, q: Form, oid: str) -> Response:
        o = self.orders.get(oid)
        if not o:
            return self.not_found("Order")
        rows = "".join(
            f'<tr><td><a href="/product/{i["productId"]}">{esc(i["name"])}</a></td><td>{money(i["price"])}</td>'
            f'<td>{i["quantity"]}</td><td>{money(i["price"] * i["quantity"])}</td></tr>'
            for i in o["items"]
        )
        s = o["shipping"]
        cancel = ""
        if o["status"] == "Processing":
            cancel = modal(
                "cancel-order", "Cancel order", "Cancel this order?",
                f"Order {oid} will be cancelled and you will be refunded {money(o['total'])}.",
                f'<form method="post" action="/orders/{oid}/cancel"><button type="submit">Confirm cancellation</button></form>',
                cancel_label="Keep order",
            )
        body = (
            f"<h1>Order {oid}</h1><p>Placed on {o['date']}. Status: <strong>{esc(o['status'])}</strong></p>"
            "<table><caption class=\"sr\">Items in this order</caption>"
            "<thead><tr><th>Product</th><th>Price</th><th>Quantity</th><th>Total</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>"
            f"<p>Subtotal: {money(o['subtotal'])}<br>Shipping ({esc(o['shippingMethod'])}): {money(o['shippingCost'])}<br>"
            f"<strong>Order total: {money(o['total'])}</strong></p>"
            f'<h2>Shipping address</h2><p>{esc(s["fullName"])}<br>{esc(s["street"])}<br>'
            f'{esc(s["city"])}, {esc(s["state"])} {esc(s["zip"])}</p>'
            f'<h2>Payment</h2><p>Card ending in {esc(o["payment"]["cardLast4"])}</p>'
            f'{cancel}<p><a href="/orders">Back to your orders</a></p>'
        )
        return self.page(f"Order {oid}", body)

    def order_cancel(self, f: Form, oid: str) -> Response:
        o = self.orders.get(oid)
        if not o:
            return self.not_found("Order")
        if o["status"] != "Processing":
            self.flash = f"Order {oid} can no longer be cancelled."
            return redirect(f"/orders/{oid}")
        o["status"] = "Cancelled"
        for it in o["items"]:
            if it["productId"] in self.products:
                self.products[it["productId"]]["stock"] += it["quantity"]
        self.flash = f"Order {oid} has been cancelled."
        return redirect(f"/orders/{oid}")
