() => {
  // Drag a rectangle on the result (HEAD) to set the region box: the box field gets "x0, y0, x1, y1" in the
  // image's own pixels, as if typed, and a frame shows the box until the next edit or "Clear region".
  // A press without a drag stays a click (gradio's select event: the two-corner box still works).
  const DRAG_PX = 4; // screen pixels a pointer must move before a press counts as a drag
  let start = null;
  let frame = null;
  let dragged = false;

  const image = () => document.querySelector("#result img");

  function placement(img) {
    // where the picture is drawn inside its <img> (object-fit: contain) and how many screen px per image px
    const box = img.getBoundingClientRect();
    const scale = Math.min(box.width / img.naturalWidth, box.height / img.naturalHeight);
    const left = box.left + (box.width - img.naturalWidth * scale) / 2;
    const top = box.top + (box.height - img.naturalHeight * scale) / 2;
    return { left, top, scale };
  }

  function toPixel(img, event) {
    const { left, top, scale } = placement(img);
    const clamp = (v, hi) => Math.max(0, Math.min(hi, v));
    return [clamp((event.clientX - left) / scale, img.naturalWidth),
            clamp((event.clientY - top) / scale, img.naturalHeight)];
  }

  function rectangle(a, b) {
    return [Math.floor(Math.min(a[0], b[0])), Math.floor(Math.min(a[1], b[1])),
            Math.ceil(Math.max(a[0], b[0])), Math.ceil(Math.max(a[1], b[1]))];
  }

  function showFrame(img, rect) {
    // a child of the picture's container, so it scrolls with it
    const holder = img.parentElement;
    if (!frame || frame.parentElement !== holder) {
      if (frame) frame.remove();
      frame = document.createElement("div");
      frame.id = "box-frame";
      frame.style.cssText = "position:absolute;border:2px dashed #ff3030;background:rgba(255,48,48,.12);" +
                            "pointer-events:none;z-index:50;box-sizing:border-box";
      if (getComputedStyle(holder).position === "static") holder.style.position = "relative";
      holder.appendChild(frame);
    }
    const { left, top, scale } = placement(img);
    const origin = holder.getBoundingClientRect();
    Object.assign(frame.style, { left: `${left - origin.left + rect[0] * scale}px`,
                                 top: `${top - origin.top + rect[1] * scale}px`,
                                 width: `${(rect[2] - rect[0]) * scale}px`,
                                 height: `${(rect[3] - rect[1]) * scale}px`, display: "block" });
  }

  function hideFrame() {
    if (frame) frame.style.display = "none";
  }

  function setBox(text) {
    const field = document.querySelector("#box textarea, #box input");
    if (!field) return;
    field.value = text;
    field.dispatchEvent(new Event("input", { bubbles: true }));
  }

  document.addEventListener("pointerdown", (event) => {
    const img = image();
    if (!img || event.target !== img || event.button !== 0 || !img.naturalWidth) return;
    start = { point: toPixel(img, event), x: event.clientX, y: event.clientY };
    dragged = false;
    event.preventDefault(); // no native image drag
  }, true);

  document.addEventListener("pointermove", (event) => {
    const img = image();
    if (!start || !img) return;
    if (!dragged && Math.hypot(event.clientX - start.x, event.clientY - start.y) < DRAG_PX) return;
    dragged = true;
    showFrame(img, rectangle(start.point, toPixel(img, event)));
  }, true);

  document.addEventListener("pointerup", (event) => {
    const img = image();
    if (!start || !img) return;
    if (dragged) {
      const rect = rectangle(start.point, toPixel(img, event));
      if (rect[2] > rect[0] && rect[3] > rect[1]) setBox(rect.join(", "));
      showFrame(img, rect);
    }
    start = null;
  }, true);

  document.addEventListener("click", (event) => {
    if (dragged && event.target === image()) {
      event.stopPropagation(); // a drag is not a corner click
      event.preventDefault();
      dragged = false;
    }
  }, true);

  // the frame belongs to the picture it was drawn on: gone when HEAD changes or the region is cleared
  document.addEventListener("click", (event) => {
    if (event.target.closest && event.target.closest("#edit, #clear-region, #undo, #redo, #history")) hideFrame();
  }, true);
}
