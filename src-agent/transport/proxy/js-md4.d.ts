declare module 'js-md4' {
  interface Md4 {
    arrayBuffer(message: string | ArrayBuffer | Uint8Array | number[]): ArrayBuffer;
  }
  const md4: Md4;
  export default md4;
}
