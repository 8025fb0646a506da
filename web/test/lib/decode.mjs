// Reads a QR code from a PNG screenshot's pixels (pngjs + jsQR), as a camera would.
import jsQR from "jsqr";
import { PNG } from "pngjs";

export function decodePng(buffer) {
  const png = PNG.sync.read(buffer);
  const found = jsQR(new Uint8ClampedArray(png.data.buffer, png.data.byteOffset, png.data.length), png.width, png.height);
  return found ? found.data : null;
}
