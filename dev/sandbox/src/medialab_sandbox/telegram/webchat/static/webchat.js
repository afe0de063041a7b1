// The sandbox web chat: acts as Telegram users through the emulator's user API (/_emu/...).
// Message text arrives already drawn as safe HTML (the `html` field of /view); everything else
// (button labels, file names, user names) is only ever set as text.
"use strict";

(() => {
  const API = location.pathname.replace(/\/webchat\/?$/, ""); // /_emu/<bot id>: the user API takes the id in place of the token
  const EMU = API.replace(/\/[^/]+$/, ""); // /_emu
  const POLL_SECONDS = 25;
  const ANSWER_SECONDS = 10;
  const ACTION_MS = 5000; // Telegram shows a chat action for 5 s
  const MAX_PANES = 4; // each pane holds one long poll; browsers allow 6 connections per host
  const ALBUM_MAX = 10;
  const INLINE_IMAGES = new Set(["image/jpeg", "image/png", "image/webp", "image/gif"]);
  const ACTIONS = {
    typing: "печатает…",
    upload_photo: "отправляет фото…",
    upload_document: "отправляет файл…",
    upload_video: "отправляет видео…",
    record_video: "записывает видео…",
    choose_sticker: "выбирает стикер…",
  };

  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  function el(tag, props = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props)) {
      if (value === undefined || value === null || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : value);
    }
    node.append(...children.filter((child) => child !== null && child !== undefined));
    return node;
  }

  async function api(method, path, body) {
    const init = { method, headers: {} };
    if (body instanceof FormData) {
      init.body = body;
    } else if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const response = await fetch(path.startsWith("/") ? path : `${API}/${path}`, init);
    if (!response.ok) {
      let detail = `${response.status} ${response.statusText}`;
      try {
        const data = await response.json();
        detail = typeof data.detail === "string" ? data.detail : JSON.stringify(data.detail);
      } catch {
        // not JSON: keep the status line
      }
      throw new Error(detail);
    }
    return response.json();
  }

  const fileUrl = (fileId) => `${API}/webchat/files/${encodeURIComponent(fileId)}`;

  function sizeText(bytes) {
    if (bytes >= 1024 * 1024) return `${(bytes / 1024 / 1024).toFixed(1)} МБ`;
    if (bytes >= 1024) return `${Math.round(bytes / 1024)} КБ`;
    return `${bytes} Б`;
  }

  function timeText(unix) {
    return new Date(unix * 1000).toLocaleTimeString("ru-RU", { hour: "2-digit", minute: "2-digit" });
  }

  function userName(user) {
    return [user.first_name, user.last_name].filter(Boolean).join(" ") || `id ${user.user_id}`;
  }

  function isImage(file) {
    return INLINE_IMAGES.has(file.type);
  }

  class Pane {
    constructor(app, user) {
      this.app = app;
      this.userId = user.user_id;
      this.version = -1;
      this.items = new Map(); // item key -> {signature, node}
      this.pending = [];
      this.keyboard = null;
      this.keyboardHidden = false;
      this.actionTimer = null;
      this.offline = false;
      this.stuck = true; // follow new messages while the view is scrolled to the bottom
      this.abort = new AbortController();
      this.root = document.getElementById("pane-template").content.firstElementChild.cloneNode(true);
      this.root.dataset.userId = String(this.userId);
      this.messages = this.root.querySelector(".messages");
      this.textarea = this.root.querySelector("textarea");
      this.fileInput = this.root.querySelector("input[type=file]");
      this.asFile = this.root.querySelector(".as-file input");
      this.keyboardToggle = this.root.querySelector(".keyboard-toggle");
      this.rename(user);
      this.bind();
    }

    rename(user) {
      this.root.querySelector(".pane-title").textContent = `${userName(user)} · ${user.user_id}`;
    }

    bind() {
      const root = this.root;
      root.querySelector(".pane-close").addEventListener("click", () => this.app.close(this.userId));
      root.querySelector(".composer").addEventListener("submit", (event) => {
        event.preventDefault();
        this.submit();
      });
      this.textarea.addEventListener("keydown", (event) => {
        if (event.key === "Enter" && !event.shiftKey) {
          event.preventDefault();
          this.submit();
        }
      });
      this.fileInput.addEventListener("change", () => {
        this.attach([...this.fileInput.files]);
        this.fileInput.value = "";
      });
      this.keyboardToggle.addEventListener("click", () => {
        this.keyboardHidden = !this.keyboardHidden;
        this.renderKeyboard();
      });
      let depth = 0; // dragenter/dragleave fire for every child crossed
      root.addEventListener("dragenter", (event) => {
        if (!event.dataTransfer?.types.includes("Files")) return;
        depth += 1;
        root.classList.add("dragging");
      });
      root.addEventListener("dragleave", () => {
        depth = Math.max(depth - 1, 0);
        if (depth === 0) root.classList.remove("dragging");
      });
      root.addEventListener("dragover", (event) => event.preventDefault());
      root.addEventListener("drop", (event) => {
        event.preventDefault();
        depth = 0;
        root.classList.remove("dragging");
        this.attach([...(event.dataTransfer?.files ?? [])]);
      });
      this.messages.addEventListener("scroll", () => (this.stuck = this.nearBottom()));
      // Commands in the bot's text are tappable, spoilers reveal on a tap, as in Telegram.
      this.messages.addEventListener("click", (event) => {
        const target = event.target instanceof Element ? event.target : null;
        const command = target?.closest(".tg-command");
        if (command) this.sendText(command.textContent);
        target?.closest(".tg-spoiler")?.classList.add("revealed");
      });
    }

    // --- reading ---------------------------------------------------------------------------
    async poll() {
      const signal = this.abort.signal;
      while (!signal.aborted) {
        try {
          const query = `since=${this.version}&timeout=${POLL_SECONDS}`;
          const response = await fetch(`${API}/chats/${this.userId}/view?${query}`, { signal });
          if (!response.ok) throw new Error(`${response.status}`);
          const view = await response.json();
          if (this.offline) {
            this.offline = false;
            this.showAction(view.action);
          }
          if (view.version !== this.version) {
            this.version = view.version;
            this.render(view);
          }
        } catch (error) {
          if (signal.aborted) return;
          this.offline = true;
          this.showAction(null, "нет связи с эмулятором, повторяю…");
          await sleep(1000);
        }
      }
    }

    render(view) {
      const stick = this.stuck;
      const groups = [];
      for (const message of view.messages) {
        if (message.deleted) continue;
        const last = groups[groups.length - 1];
        if (message.media_group_id && last && last[0].media_group_id === message.media_group_id) {
          last.push(message);
        } else {
          groups.push([message]);
        }
      }
      const nodes = [];
      const kept = new Map();
      for (const group of groups) {
        const key = group[0].media_group_id ? `g${group[0].media_group_id}` : `m${group[0].message_id}`;
        const signature = JSON.stringify(group);
        const known = this.items.get(key);
        const node = known && known.signature === signature ? known.node : this.buildItem(group);
        kept.set(key, { signature, node });
        nodes.push(node);
      }
      this.items = kept;
      this.messages.replaceChildren(...nodes);
      if (JSON.stringify(view.reply_keyboard) !== JSON.stringify(this.keyboard)) {
        this.keyboard = view.reply_keyboard;
        this.keyboardHidden = false; // a new keyboard from the bot shows up, as in Telegram
      }
      this.renderKeyboard();
      this.showAction(view.action);
      if (stick) this.scrollDown();
    }

    nearBottom() {
      const box = this.messages;
      return box.scrollHeight - box.scrollTop - box.clientHeight < 80;
    }

    scrollDown() {
      this.messages.scrollTop = this.messages.scrollHeight;
    }

    showAction(action, override) {
      const label = this.root.querySelector(".pane-action");
      clearTimeout(this.actionTimer);
      label.textContent = override ?? (action ? ACTIONS[action] ?? `${action}…` : "");
      if (action && !override) this.actionTimer = setTimeout(() => (label.textContent = ""), ACTION_MS);
    }

    buildItem(group) {
      const first = group[0];
      if (first.successful_payment) {
        return el("div", { class: "service", text: `⭐ Вы оплатили ${first.successful_payment.total_amount} Stars` });
      }
      if (first.refunded_payment) {
        return el("div", { class: "service", text: `⭐ Возврат ${first.refunded_payment.total_amount} Stars` });
      }
      const bubble = el("div", { class: "bubble" });
      const media = group.flatMap((message) => this.mediaOf(message));
      if (media.length) bubble.append(el("div", { class: media.length > 1 ? "media album" : "media" }, ...media));
      const last = group[group.length - 1];
      if (first.sticker) bubble.append(this.sticker(first.sticker));
      if (first.invoice) bubble.append(this.invoice(first));
      const withText = group.find((message) => message.html);
      if (withText) {
        const text = el("div", { class: "text" });
        text.innerHTML = withText.html; // drawn by the emulator from text + entities, escaped
        bubble.append(text);
      }
      const edited = group.some((message) => message.edit_date);
      bubble.append(el("div", { class: "meta", text: `${edited ? "изменено " : ""}${timeText(last.date)}` }));
      const item = el("div", { class: `item ${first.from_bot ? "bot" : "me"}`, "data-message-id": first.message_id }, bubble);
      const keyboard = this.inlineKeyboard(last);
      if (keyboard) item.append(keyboard);
      return item;
    }

    mediaOf(message) {
      const nodes = [];
      if (message.photo?.length) {
        const largest = message.photo[message.photo.length - 1];
        const shown = [...message.photo].reverse().find((size) => Math.max(size.width, size.height) <= 1280) ?? largest;
        nodes.push(this.figure(shown.file_id, largest.file_id, `photo_${message.message_id}.jpg`));
      }
      const document_ = message.document;
      if (document_) {
        const name = document_.file_name || `file_${message.message_id}`;
        if (INLINE_IMAGES.has(document_.mime_type)) {
          nodes.push(this.figure(document_.file_id, document_.file_id, name));
        } else {
          nodes.push(
            el(
              "div",
              { class: "file" },
              el("span", { text: "📄" }),
              el("a", { href: fileUrl(document_.file_id), download: name, text: name }),
              el("span", { class: "size", text: sizeText(document_.file_size) }),
            ),
          );
        }
      }
      return nodes;
    }

    figure(shownId, fullId, name) {
      const image = el("img", { src: fileUrl(shownId), alt: name, loading: "lazy" });
      image.addEventListener("load", () => {
        if (this.stuck) this.scrollDown();
      });
      return el(
        "figure",
        {},
        el("a", { href: fileUrl(fullId), target: "_blank", rel: "noopener" }, image),
        el("a", { class: "download", href: fileUrl(fullId), download: name, title: "Скачать", text: "⬇ скачать" }),
      );
    }

    sticker(sticker) {
      return el("div", { class: "sticker" }, el("img", { src: fileUrl(sticker.file_id), alt: sticker.emoji || "стикер" }));
    }

    invoice(message) {
      const invoice = message.invoice;
      const card = el(
        "div",
        { class: "invoice" },
        el("div", { class: "title", text: invoice.title }),
        el("div", { text: invoice.description }),
        el("div", { class: "amount", text: `⭐ ${invoice.total_amount} ${invoice.currency === "XTR" ? "Stars" : invoice.currency}` }),
      );
      const hasPayButton = (message.reply_markup?.inline_keyboard ?? []).flat().some((button) => button.pay);
      if (!hasPayButton) {
        const row = el("div", { class: "row" }, el("button", { type: "button", text: "Оплатить", onclick: () => this.pay(message) }));
        card.append(el("div", { class: "inline-keyboard" }, row));
      }
      return card;
    }

    inlineKeyboard(message) {
      const rows = message.reply_markup?.inline_keyboard;
      if (!rows?.length) return null;
      const keyboard = el("div", { class: "inline-keyboard" });
      for (const row of rows) {
        const line = el("div", { class: "row" });
        for (const button of row) line.append(this.inlineButton(message, button));
        keyboard.append(line);
      }
      return keyboard;
    }

    inlineButton(message, button) {
      if (button.url) {
        const safe = /^(https?|tg):/i.test(button.url);
        if (safe) return el("a", { href: button.url, target: "_blank", rel: "noopener noreferrer", text: `${button.text} ↗` });
      }
      if (button.pay) {
        return el("button", { type: "button", class: "pay", text: button.text, onclick: () => this.pay(message) });
      }
      if (typeof button.callback_data === "string") {
        const node = el("button", { type: "button", text: button.text });
        node.addEventListener("click", () => this.press(message, button, node));
        return node;
      }
      return el("button", { type: "button", text: button.text, disabled: true, title: "Такие кнопки песочница не поддерживает" });
    }

    renderKeyboard() {
      const box = this.root.querySelector(".reply-keyboard");
      const rows = this.keyboard?.keyboard ?? [];
      this.keyboardToggle.hidden = rows.length === 0;
      this.textarea.placeholder = this.keyboard?.input_field_placeholder || "Сообщение";
      box.replaceChildren();
      if (this.keyboardHidden) return;
      for (const row of rows) {
        const line = el("div", { class: "row" });
        for (const key of row) {
          const text = typeof key === "string" ? key : key.text;
          line.append(
            el("button", {
              type: "button",
              text,
              onclick: () => {
                if (this.keyboard?.one_time_keyboard) this.keyboardHidden = true;
                this.renderKeyboard();
                this.sendText(text);
              },
            }),
          );
        }
        box.append(line);
      }
    }

    // --- acting ----------------------------------------------------------------------------
    toast(text, alert = false) {
      const box = this.root.querySelector(".toasts");
      const toast = el("div", { class: alert ? "toast alert" : "toast", text, role: alert ? "alert" : "status" });
      box.append(toast);
      if (alert) toast.addEventListener("click", () => toast.remove());
      else setTimeout(() => toast.remove(), 4000);
    }

    async guard(work) {
      try {
        await work();
      } catch (error) {
        this.toast(`Не отправилось: ${error.message}`, true);
      }
    }

    submit() {
      const text = this.textarea.value.trim();
      if (this.pending.length) {
        const files = this.pending;
        this.pending = [];
        this.renderPending();
        this.textarea.value = "";
        this.guard(() => this.sendFiles(files, text));
      } else if (text) {
        this.textarea.value = "";
        this.sendText(text);
      }
    }

    sendText(text) {
      return this.guard(() => api("POST", `chats/${this.userId}/text`, { user_id: this.userId, text }));
    }

    attach(files) {
      this.pending.push(...files);
      this.renderPending();
      this.textarea.focus();
    }

    renderPending() {
      const box = this.root.querySelector(".pending");
      box.replaceChildren(
        ...this.pending.map((file, index) => {
          const preview = isImage(file) ? el("img", { src: URL.createObjectURL(file), alt: "" }) : el("span", { text: "📄" });
          const remove = el("button", { type: "button", title: "Убрать", text: "×" });
          remove.addEventListener("click", () => {
            this.pending.splice(index, 1);
            this.renderPending();
          });
          return el("div", { class: "chip" }, preview, el("span", { text: file.name }), remove);
        }),
      );
      if (this.pending.length) this.textarea.placeholder = "Подпись";
      else this.renderKeyboard();
    }

    async sendFiles(files, caption) {
      if (files.length > ALBUM_MAX) throw new Error(`в альбоме не больше ${ALBUM_MAX} файлов`);
      // Telegram keeps photo albums and document albums apart: one non-image makes all files.
      const asPhotos = !this.asFile.checked && files.every(isImage);
      const form = new FormData();
      form.append("user_id", String(this.userId));
      if (caption) form.append("caption", caption);
      if (files.length === 1) {
        const [file] = files;
        form.append("file", file, file.name);
        if (!asPhotos && file.type) form.append("mime_type", file.type);
        await api("POST", `chats/${this.userId}/${asPhotos ? "photo" : "document"}`, form);
        return;
      }
      form.append("kinds", JSON.stringify(files.map(() => (asPhotos ? "photo" : "document"))));
      for (const file of files) form.append("files", file, file.name);
      await api("POST", `chats/${this.userId}/album`, form);
    }

    async press(message, button, node) {
      node.classList.add("busy");
      try {
        const pressed = await api("POST", `chats/${this.userId}/callback`, {
          user_id: this.userId,
          message_id: message.message_id,
          data: button.callback_data,
        });
        const id = encodeURIComponent(pressed.callback_query_id);
        const answer = await api("GET", `callbacks/${id}?timeout=${ANSWER_SECONDS}`);
        if (answer.text) this.toast(answer.text, answer.show_alert);
      } catch (error) {
        this.toast(`Кнопка не сработала: ${error.message}`, true);
      } finally {
        node.classList.remove("busy");
      }
    }

    async pay(message) {
      try {
        const outcome = await api("POST", `chats/${this.userId}/pay`, { user_id: this.userId, message_id: message.message_id });
        if (outcome.status === "paid") this.toast(`Оплачено: ⭐ ${outcome.total_amount}`);
        else if (outcome.status === "declined") this.toast(`Бот отклонил оплату: ${outcome.error_message ?? "без причины"}`, true);
        else this.toast("Бот не подтвердил оплату за 10 секунд; деньги не списаны", true);
      } catch (error) {
        this.toast(`Оплата не прошла: ${error.message}`, true);
      }
    }
  }

  class App {
    constructor() {
      this.panes = new Map();
      this.users = [];
      this.box = document.getElementById("panes");
      this.chips = document.getElementById("users");
    }

    async start() {
      document.getElementById("new-user").addEventListener("submit", (event) => {
        event.preventDefault();
        const form = event.currentTarget;
        this.addUser(form.elements.name.value.trim(), form.elements.language.value);
        form.elements.name.value = "";
      });
      const bot = await api("GET", "bot");
      document.getElementById("bot-name").textContent = `@${bot.username}`;
      document.title = `@${bot.username} · веб-чат песочницы`;
      await this.loadUsers();
      const wanted = new URLSearchParams(location.search)
        .getAll("user")
        .map(Number)
        .filter((id) => Number.isSafeInteger(id) && id > 0);
      if (!wanted.length) wanted.push(this.users[0]?.user_id ?? 1001);
      for (const id of wanted.slice(0, MAX_PANES)) await this.open(id);
      // Users created in another tab or by a test show up here too.
      setInterval(() => this.loadUsers().catch(() => {}), 5000);
    }

    async loadUsers() {
      this.users = await api("GET", `${EMU}/users`);
      for (const user of this.users) this.panes.get(user.user_id)?.rename(user);
      this.renderChips();
    }

    renderChips() {
      this.chips.replaceChildren(
        ...this.users.map((user) => {
          const open = this.panes.has(user.user_id);
          const chip = el("button", {
            type: "button",
            class: open ? "open" : "",
            "data-user-id": user.user_id,
            title: open ? "Закрыть этот чат" : "Открыть чат рядом",
            text: `${userName(user)} · ${user.user_id}`,
          });
          chip.addEventListener("click", () => (open ? this.close(user.user_id) : this.open(user.user_id)));
          return chip;
        }),
      );
    }

    async open(userId) {
      if (this.panes.has(userId)) return;
      if (this.panes.size >= MAX_PANES) {
        this.panes.values().next().value.toast(`Открыто не больше ${MAX_PANES} чатов: закройте один`, true);
        return;
      }
      let user = this.users.find((known) => known.user_id === userId);
      if (!user) {
        user = { user_id: userId, first_name: "Тест", language_code: "ru" };
        await api("PUT", `${EMU}/users/${userId}`, user);
        await this.loadUsers();
      }
      const pane = new Pane(this, user);
      this.panes.set(userId, pane);
      this.box.append(pane.root);
      pane.poll();
      this.syncUrl();
      this.renderChips();
    }

    close(userId) {
      const pane = this.panes.get(userId);
      if (!pane || this.panes.size === 1) return; // one chat always stays open
      pane.abort.abort();
      pane.root.remove();
      this.panes.delete(userId);
      this.syncUrl();
      this.renderChips();
    }

    async addUser(name, language) {
      const id = Math.max(1000, ...this.users.map((user) => user.user_id)) + 1;
      const profile = { user_id: id, first_name: name || `Гость ${id}`, language_code: language || "ru" };
      await api("PUT", `${EMU}/users/${id}`, profile);
      await this.loadUsers();
      await this.open(id);
    }

    syncUrl() {
      const query = [...this.panes.keys()].map((id) => `user=${id}`).join("&");
      history.replaceState(null, "", `${location.pathname}?${query}`);
    }
  }

  const app = new App();
  app.start().catch((error) => {
    document.getElementById("panes").append(el("p", { class: "service", text: `Веб-чат не запустился: ${error.message}` }));
  });
})();
